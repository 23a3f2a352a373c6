defmodule Realtime.Gateway.Rest do
  @moduledoc """
  Discord's REST API under `/api/v10` and `/api/v9`, as a Cowboy handler:
  the routes of `Realtime.Gateway.Rest.Routes`, answered with the objects
  of `Realtime.Gateway.Payloads`.

  A request is matched to its route, authenticated (`Authorization: Bot
  <token>`; only public routes such as `GET /gateway` work without one),
  counted against its rate limits (`Realtime.Gateway.Rest.RateLimit`,
  whose headers every answer carries), then served. Answers are JSON with
  `Content-Type: application/json`; errors are Discord's bodies and codes
  (`Realtime.Gateway.Rest.Errors`). A guild that is down mid-request is a
  503, never a crash.
  """

  require Realtime.Metrics, as: Metrics
  @behaviour :cowboy_handler

  alias Realtime.{Directory, Guild, JSON}
  alias Realtime.Gateway.{IdentifyLimit, Payloads}
  alias Realtime.Gateway.Rest.{Errors, Params, RateLimit, Routes}
  alias Realtime.Guild.{Emoji, Placement}
  alias Realtime.Push.Preferences

  @max_body 16_384

  @impl true
  def init(req, opts) do
    {status, headers, body, req} =
      case Routes.match(:cowboy_req.method(req), :cowboy_req.path_info(req) || []) do
        {:ok, route, params} -> serve(route, params, req)
        {:error, reason} -> error(reason, %{}, req)
      end

    req =
      case body do
        nil -> :cowboy_req.reply(status, headers, "", req)
        body -> :cowboy_req.reply(status, Map.put(headers, "content-type", "application/json"), JSON.encode(body), req)
      end

    {:ok, req, opts}
  end

  defp serve(route, params, req) do
    user = authenticate(req)

    case RateLimit.check(caller(user, req), {route.method, route.template}, Routes.major(params)) do
      :off ->
        respond(route, params, user, %{}, req)


      {:limited, scope, retry_after, headers} ->
        Metrics.inc(:rate_limited, if(scope == :global, do: "rest_global", else: "rest_route"))
        headers = Map.merge(headers, %{"retry-after" => retry_header(retry_after), "x-ratelimit-scope" => to_string(scope)})
        error({:rate_limited, scope, retry_after}, headers, req)

      {:ok, headers} ->
        respond(route, params, user, headers, req)
    end
  end

  defp respond(%{auth: :bot}, _params, :error, headers, req), do: error(:unauthorized, headers, req)

  defp respond(route, params, user, headers, req) do
    case safe_handle(route, params, %{user: user, req: req}) do
      {:error, reason, req} -> error(reason, headers, req)
      {:error, reason} -> error(reason, headers, req)
      {status, body, req} -> {status, headers, body, req}
    end
  end

  defp error(reason, headers, req) do
    {status, body} = Errors.reply(reason)
    {status, headers, body, req}
  end

  defp authenticate(req) do
    with "Bot " <> token <- :cowboy_req.header("authorization", req, :error),
         {:ok, user} <- Directory.authenticate(token) do
      user
    else
      _ -> :error
    end
  end

  # Requests without a valid token are limited by address.
  defp caller(:error, req), do: {:ip, req |> :cowboy_req.peer() |> elem(0)}
  defp caller(user, _req), do: {:user, user.id}

  defp retry_header(ms), do: Integer.to_string(div(ms + 999, 1000))

  defp safe_handle(route, params, ctx) do
    handle({route.method, route.template}, params, ctx)
  catch
    :exit, _ -> {:error, :unavailable}
  end

  # Gateway, user, application

  defp handle({"GET", "/gateway"}, _, c), do: {200, %{"url" => gateway_url()}, c.req}

  defp handle({"GET", "/gateway/bot"}, _, c) do
    body = %{"url" => gateway_url(), "shards" => 1, "session_start_limit" => IdentifyLimit.session_start_limit(c.user)}
    {200, body, c.req}
  end

  defp handle({"GET", "/users/@me"}, _, c), do: {200, Payloads.current_user(c.user), c.req}
  defp handle({"GET", "/oauth2/applications/@me"}, _, c), do: {200, application(c.user), c.req}
  defp handle({"GET", "/applications/@me"}, _, c), do: {200, application(c.user), c.req}

  # Application commands: none are registered, and registering is accepted
  # without effect.
  defp handle({_, "/applications/{application_id}/commands"}, _, c), do: {200, [], c.req}
  defp handle({_, "/applications/{application_id}/guilds/{guild_id}/commands"}, _, c), do: {200, [], c.req}

  # Guilds

  defp handle({"GET", "/guilds/{guild_id}"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, with_counts} <- Params.boolean(query(c), "with_counts", false),
         {:ok, body} <- Guild.guild(guild, c.user.id, with_counts),
         do: {200, body, c.req}
  end

  defp handle({"GET", "/guilds/{guild_id}/channels"}, p, c) do
    with {:ok, guild} <- guild(p), {:ok, channels} <- Guild.channels(guild, c.user.id), do: {200, channels, c.req}
  end

  defp handle({"POST", "/guilds/{guild_id}/channels"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, body, req} <- read_json(c.req),
         {:ok, attrs} <- channel_attrs(body, true),
         {:ok, channel} <- Guild.create_channel(guild, c.user.id, attrs),
         do: {201, channel, req}
  end

  defp handle({"GET", "/guilds/{guild_id}/roles"}, p, c) do
    with {:ok, guild} <- guild(p), {:ok, roles} <- Guild.roles(guild, c.user.id), do: {200, roles, c.req}
  end

  defp handle({"POST", "/guilds/{guild_id}/roles"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, body, req} <- read_json(c.req),
         {:ok, attrs} <- role_attrs(body),
         {:ok, role} <- Guild.create_role(guild, c.user.id, attrs),
         do: {200, role, req}
  end

  defp handle({"DELETE", "/guilds/{guild_id}/roles/{role_id}"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, role_id} <- id(p, "role_id", :unknown_role),
         :ok <- Guild.delete_role(guild, c.user.id, role_id),
         do: {204, nil, c.req}
  end

  # Listing members needs the GUILD_MEMBERS privileged intent, as on Discord.
  defp handle({"GET", "/guilds/{guild_id}/members"}, p, c) do
    with {:ok, guild} <- guild(p),
         :ok <- privileged(c.user, "GUILD_MEMBERS"),
         {:ok, limit} <- Params.integer(query(c), "limit", 1, 1, 1000),
         {:ok, after_id} <- Params.snowflake(query(c), "after"),
         {:ok, members} <- Guild.members(guild, c.user.id, after_id || 0, limit),
         do: {200, members, c.req}
  end

  defp handle({"GET", "/guilds/{guild_id}/members/{user_id}"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, user_id} <- id(p, "user_id", :unknown_member),
         {:ok, member} <- Guild.member(guild, c.user.id, user_id),
         do: {200, member, c.req}
  end

  defp handle({"PATCH", "/guilds/{guild_id}/members/{user_id}"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, user_id} <- id(p, "user_id", :unknown_member),
         {:ok, body, req} <- read_json(c.req),
         {:ok, attrs} <- member_attrs(body),
         {:ok, member} <- Guild.update_member(guild, c.user.id, user_id, attrs),
         do: {200, member, req}
  end

  defp handle({"DELETE", "/guilds/{guild_id}/members/{user_id}"}, p, c) do
    with {:ok, guild} <- guild(p),
         {:ok, user_id} <- id(p, "user_id", :unknown_member),
         :ok <- Guild.remove_member(guild, c.user.id, user_id),
         do: {204, nil, c.req}
  end

  # Channels

  defp handle({"GET", "/channels/{channel_id}"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, channel} <- Guild.channel(guild, channel_id, c.user.id),
         do: {200, channel, c.req}
  end

  defp handle({"PATCH", "/channels/{channel_id}"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, body, req} <- read_json(c.req),
         {:ok, attrs} <- channel_attrs(body, false),
         {:ok, channel} <- Guild.update_channel(guild, c.user.id, channel_id, attrs),
         do: {200, channel, req}
  end

  defp handle({"DELETE", "/channels/{channel_id}"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, channel} <- Guild.delete_channel(guild, c.user.id, channel_id),
         do: {200, channel, c.req}
  end

  defp handle({"POST", "/channels/{channel_id}/typing"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         :ok <- Guild.typing(guild, channel_id, c.user.id),
         do: {204, nil, c.req}
  end

  # Messages

  defp handle({"GET", "/channels/{channel_id}/messages"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, limit} <- Params.integer(query(c), "limit", 50, 1, 100),
         {:ok, page} <- Params.history_page(query(c)),
         {:ok, messages} <- Guild.messages(guild, channel_id, c.user.id, page, limit),
         do: {200, messages, c.req}
  end

  defp handle({"POST", "/channels/{channel_id}/messages"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, body, req} <- read_json(c.req),
         {:ok, content, nonce} <- message_body(body),
         {:ok, message} <- Guild.create_message(guild, channel_id, c.user.id, content, nonce),
         do: {200, message, req}
  end

  defp handle({"GET", "/channels/{channel_id}/messages/{message_id}"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, message_id} <- id(p, "message_id", :unknown_message),
         {:ok, message} <- Guild.message(guild, channel_id, message_id, c.user.id),
         do: {200, message, c.req}
  end

  defp handle({"PATCH", "/channels/{channel_id}/messages/{message_id}"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, message_id} <- id(p, "message_id", :unknown_message),
         {:ok, body, req} <- read_json(c.req),
         {:ok, content, _nonce} <- message_body(body),
         {:ok, message} <- Guild.update_message(guild, channel_id, message_id, c.user.id, content),
         do: {200, message, req}
  end

  defp handle({"DELETE", "/channels/{channel_id}/messages/{message_id}"}, p, c) do
    with {:ok, guild, channel_id} <- channel(p),
         {:ok, message_id} <- id(p, "message_id", :unknown_message),
         :ok <- Guild.delete_message(guild, channel_id, message_id, c.user.id),
         do: {204, nil, c.req}
  end

  defp handle({method, "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"}, p, c) do
    react = if method == "PUT", do: &Guild.add_reaction/5, else: &Guild.remove_reaction/5

    with {:ok, guild, channel_id} <- channel(p),
         {:ok, message_id} <- id(p, "message_id", :unknown_message),
         {:ok, emoji} <- Emoji.parse(p["emoji_name"]),
         :ok <- react.(guild, channel_id, message_id, c.user.id, emoji),
         do: {204, nil, c.req}
  end

  # Notification settings (ours; Discord's user-account route has this shape).
  defp handle({"PATCH", "/users/@me/guilds/{guild_id}/settings"}, p, c) do
    with {:ok, guild_id} <- id(p, "guild_id", :unknown_guild),
         true <- guild_id in Directory.guilds_of(c.user.id) || {:error, :unknown_guild},
         {:ok, body, req} <- read_json(c.req),
         {:ok, changes} <- settings(body),
         {:ok, prefs} <- Preferences.update(c.user.id, guild_id, changes) |> store_result() do
      overrides = for cid <- prefs.muted_channels, do: %{"channel_id" => to_string(cid), "muted" => true}
      {200, %{"guild_id" => to_string(guild_id), "muted" => prefs.muted, "channel_overrides" => overrides}, req}
    end
  end

  # Path parameters. A malformed id is the same "unknown" error as an
  # absent one.

  defp id(params, name, error) do
    case Integer.parse(params[name]) do
      {n, ""} when n > 0 -> {:ok, n}
      _ -> {:error, error}
    end
  end

  defp guild(params) do
    with {:ok, id} <- id(params, "guild_id", :unknown_guild),
         {:ok, pid} <- Placement.lookup(id) do
      {:ok, pid}
    else
      _ -> {:error, :unknown_guild}
    end
  end

  defp channel(params) do
    with {:ok, channel_id} <- id(params, "channel_id", :unknown_channel),
         {:ok, guild_id} <- Directory.guild_of_channel(channel_id),
         {:ok, pid} <- Placement.lookup(guild_id) do
      {:ok, pid, channel_id}
    else
      _ -> {:error, :unknown_channel}
    end
  end

  defp query(c), do: :cowboy_req.parse_qs(c.req)

  defp privileged(user, intent), do: if(intent in user.privileged_intents, do: :ok, else: {:error, :missing_access})

  # Bodies

  defp read_json(req) do
    # `length` is how much Cowboy waits for, not a cap: a body that arrived
    # at once can come back whole and larger, so its size is checked too.
    case :cowboy_req.read_body(req, %{length: @max_body, period: 5_000}) do
      {:ok, body, req} when byte_size(body) > @max_body ->
        {:error, :too_large, req}

      {:ok, body, req} ->
        case JSON.decode(body, max_depth: 16) do
          {:ok, %{} = map} -> {:ok, map, req}
          _ -> {:error, :bad_json, req}
        end

      {:more, _, req} ->
        {:error, :too_large, req}
    end
  end

  defp message_body(%{"content" => content} = body) when is_binary(content) do
    with :ok <- content(content), {:ok, nonce} <- nonce(body["nonce"]), do: {:ok, content, nonce}
  end

  defp message_body(%{"content" => _}), do: {:error, {:invalid_form, "content", "Could not interpret the value as a string."}}
  defp message_body(_), do: {:error, :empty_message}

  defp content(content) do
    cond do
      String.length(content) > 2000 -> {:error, {:invalid_form, "content", "Must be 2000 or fewer in length."}}
      String.trim(content) == "" -> {:error, :empty_message}
      true -> :ok
    end
  end

  # The spec's nonce: a 64-bit integer, or a string of at most 25 characters.
  defp nonce(nil), do: {:ok, nil}
  defp nonce(n) when is_integer(n) and n >= -0x8000_0000_0000_0000 and n < 0x8000_0000_0000_0000, do: {:ok, n}
  defp nonce(n) when is_binary(n), do: if(String.length(n) <= 25, do: {:ok, n}, else: nonce(:invalid))
  defp nonce(_), do: {:error, {:invalid_form, "nonce", "Must be an integer or a string of 25 or fewer in length."}}

  defp settings(body) do
    with {:ok, muted} <- optional_boolean(body, "muted"),
         {:ok, channels} <- channel_overrides(Map.get(body, "channel_overrides", [])) do
      {:ok, Map.merge(if(muted == nil, do: %{}, else: %{muted: muted}), %{channels: channels})}
    end
  end

  defp optional_boolean(body, key) do
    case Map.get(body, key) do
      v when is_boolean(v) or is_nil(v) -> {:ok, v}
      _ -> {:error, {:invalid_form, key, "Must be a boolean."}}
    end
  end

  defp channel_overrides(list) when is_list(list) and length(list) <= 500 do
    Enum.reduce_while(list, {:ok, %{}}, fn
      %{"channel_id" => cid, "muted" => muted}, {:ok, acc} when is_boolean(muted) ->
        case Integer.parse(to_string(cid)) do
          {n, ""} when n > 0 -> {:cont, {:ok, Map.put(acc, n, muted)}}
          _ -> {:halt, {:error, {:invalid_form, "channel_overrides", "Invalid channel id."}}}
        end

      _, _ ->
        {:halt, {:error, {:invalid_form, "channel_overrides", "Each override needs channel_id and muted."}}}
    end)
  end

  defp channel_overrides(_), do: {:error, {:invalid_form, "channel_overrides", "Must be a list of at most 500."}}

  defp store_result({:error, {kind, _} = reason}) when is_atom(kind), do: {:error, {:store, reason}}
  defp store_result(result), do: result

  defp channel_attrs(body, creating?) do
    name = body["name"]

    cond do
      creating? and not (is_binary(name) and byte_size(name) in 1..100) ->
        {:error, {:invalid_form, "name", "Must be between 1 and 100 in length."}}

      not creating? and name != nil and not (is_binary(name) and byte_size(name) in 1..100) ->
        {:error, {:invalid_form, "name", "Must be between 1 and 100 in length."}}

      body["type"] not in [nil, 0, 2, 4] ->
        {:error, {:invalid_form, "type", "Value is not a valid channel type."}}

      true ->
        with {:ok, overwrites} <- overwrites(body["permission_overwrites"]) do
          attrs =
            %{name: name, topic: body["topic"], type: body["type"], permission_overwrites: overwrites}
            |> Enum.reject(fn {_, v} -> is_nil(v) end)
            |> Map.new()

          {:ok, attrs}
        end
    end
  end

  defp overwrites(nil), do: {:ok, nil}

  defp overwrites(list) when is_list(list) do
    Enum.reduce_while(list, {:ok, []}, fn
      %{"id" => id, "type" => type} = o, {:ok, acc} when type in [0, 1] ->
        with {id, ""} <- Integer.parse(to_string(id)),
             {allow, ""} <- Integer.parse(to_string(o["allow"] || "0")),
             {deny, ""} <- Integer.parse(to_string(o["deny"] || "0")) do
          {:cont, {:ok, acc ++ [%{id: id, type: type, allow: allow, deny: deny}]}}
        else
          _ -> {:halt, {:error, {:invalid_form, "permission_overwrites", "Invalid overwrite."}}}
        end

      _, _ ->
        {:halt, {:error, {:invalid_form, "permission_overwrites", "Invalid overwrite."}}}
    end)
  end

  defp overwrites(_), do: {:error, {:invalid_form, "permission_overwrites", "Must be a list."}}

  defp role_attrs(body) do
    with {:ok, perms} <- bitfield(body["permissions"]) do
      attrs = %{name: body["name"], permissions: perms, hoist: body["hoist"], color: body["color"]}
      {:ok, attrs |> Enum.reject(fn {_, v} -> is_nil(v) end) |> Map.new()}
    end
  end

  defp bitfield(nil), do: {:ok, nil}

  defp bitfield(v) do
    case Integer.parse(to_string(v)) do
      {n, ""} when n >= 0 -> {:ok, n}
      _ -> {:error, {:invalid_form, "permissions", "Invalid permissions."}}
    end
  end

  defp member_attrs(body) do
    with {:ok, roles} <- role_ids(Map.get(body, "roles", :absent)) do
      attrs = if Map.has_key?(body, "nick"), do: %{nick: body["nick"]}, else: %{}
      attrs = if roles == :absent, do: attrs, else: Map.put(attrs, :roles, roles)

      case attrs do
        %{nick: nick} when not is_nil(nick) and not is_binary(nick) -> {:error, {:invalid_form, "nick", "Must be a string."}}
        attrs -> {:ok, attrs}
      end
    end
  end

  defp role_ids(:absent), do: {:ok, :absent}

  defp role_ids(ids) when is_list(ids) do
    parsed = Enum.map(ids, &Integer.parse(to_string(&1)))
    if Enum.all?(parsed, &match?({_, ""}, &1)), do: {:ok, Enum.map(parsed, &elem(&1, 0))}, else: {:error, {:invalid_form, "roles", "Invalid role ids."}}
  end

  defp role_ids(_), do: {:error, {:invalid_form, "roles", "Must be a list."}}

  defp application(user) do
    app = Map.put(Directory.application(), :guild_count, length(Directory.guilds_of(user.id)))
    Payloads.application(app, user)
  end

  defp gateway_url, do: Application.get_env(:realtime, :gateway_url, "ws://127.0.0.1:4000")
end
