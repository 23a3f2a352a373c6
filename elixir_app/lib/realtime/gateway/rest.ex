defmodule Realtime.Gateway.Rest do
  @moduledoc """
  The REST endpoints bot libraries touch before and around the gateway,
  under `/api/v10` and `/api/v9`, as a Cowboy handler. Every request needs
  `Authorization: Bot <token>` (401 otherwise). Responses are JSON with
  `Content-Type: application/json` exactly; errors use Discord's shape
  `{"message", "code"}` with its status codes and error codes.
  """
  @behaviour :cowboy_handler

  alias Realtime.{Directory, Guild, JSON}
  alias Realtime.Gateway.Payloads
  alias Realtime.Guild.Placement

  @max_body 16_384

  @impl true
  def init(req, opts) do
    path = :cowboy_req.path_info(req) || []
    method = :cowboy_req.method(req)

    # Routes answer {status, body, req}, or the first error of their
    # `with` chain, mapped to Discord's error here.
    {status, body, req} =
      case authenticate(req) do
        {:ok, user} ->
          case safe_route(method, path, user, req) do
            {:error, reason, req} -> error_reply(reason, req)
            {:error, reason} -> error_reply(reason, req)
            reply -> reply
          end

        :error ->
          {401, error("401: Unauthorized", 0), req}
      end

    req =
      case body do
        nil -> :cowboy_req.reply(status, %{}, "", req)
        body -> :cowboy_req.reply(status, %{"content-type" => "application/json"}, JSON.encode(body), req)
      end

    {:ok, req, opts}
  end

  defp authenticate(req) do
    case :cowboy_req.header("authorization", req) do
      "Bot " <> token -> Directory.authenticate(token)
      _ -> :error
    end
  end

  # A guild that goes down mid-request (it restarts) is a 503, not a crash.
  defp safe_route(method, path, user, req) do
    route(method, path, user, req)
  catch
    :exit, _ -> {503, error("503: Service Unavailable", 0), req}
  end

  defp route("GET", ["gateway"], _user, req), do: {200, %{"url" => gateway_url()}, req}

  defp route("GET", ["gateway", "bot"], _user, req) do
    limit = %{"total" => 1000, "remaining" => 1000, "reset_after" => 0, "max_concurrency" => 1}
    {200, %{"url" => gateway_url(), "shards" => 1, "session_start_limit" => limit}, req}
  end

  defp route("GET", ["users", "@me"], user, req), do: {200, Payloads.user(user), req}
  defp route("GET", ["oauth2", "applications", "@me"], user, req), do: {200, application(user), req}
  defp route("GET", ["applications", "@me"], user, req), do: {200, application(user), req}
  defp route(m, ["applications", _id, "commands"], _user, req) when m in ["GET", "PUT"], do: {200, [], req}

  defp route(m, ["applications", _id, "guilds", _gid, "commands"], _user, req) when m in ["GET", "PUT"],
    do: {200, [], req}

  defp route("GET", ["channels", id], user, req) do
    with {:ok, channel_id} <- snowflake(id),
         {:ok, guild} <- guild_of(channel_id),
         {:ok, channel} <- Guild.channel(guild, channel_id, user.id) do
      {200, channel, req}
    end
  end

  defp route("POST", ["channels", id, "messages"], user, req) do
    with {:ok, channel_id} <- snowflake(id),
         {:ok, body, req} <- read_json(req),
         {:ok, content, nonce} <- message_body(body),
         {:ok, guild} <- guild_of(channel_id),
         {:ok, message} <- Guild.create_message(guild, channel_id, user.id, content, nonce) do
      {200, message, req}
    end
  end

  defp route("PATCH", ["channels", cid, "messages", mid], user, req) do
    with {:ok, channel_id} <- snowflake(cid),
         {:ok, message_id} <- snowflake(mid, :unknown_message),
         {:ok, body, req} <- read_json(req),
         {:ok, content, _nonce} <- message_body(body),
         {:ok, guild} <- guild_of(channel_id),
         {:ok, message} <- Guild.update_message(guild, channel_id, message_id, user.id, content) do
      {200, message, req}
    end
  end

  defp route("DELETE", ["channels", cid, "messages", mid], user, req) do
    with {:ok, channel_id} <- snowflake(cid),
         {:ok, message_id} <- snowflake(mid, :unknown_message),
         {:ok, guild} <- guild_of(channel_id),
         :ok <- Guild.delete_message(guild, channel_id, message_id, user.id) do
      {204, nil, req}
    end
  end

  defp route("POST", ["channels", cid, "typing"], user, req) do
    with {:ok, channel_id} <- snowflake(cid),
         {:ok, guild} <- guild_of(channel_id),
         :ok <- Guild.typing(guild, channel_id, user.id) do
      {204, nil, req}
    end
  end

  defp route("POST", ["guilds", gid, "channels"], user, req) do
    with {:ok, guild} <- guild(gid),
         {:ok, body, req} <- read_json(req),
         {:ok, attrs} <- channel_attrs(body, true),
         {:ok, channel} <- Guild.create_channel(guild, user.id, attrs) do
      {201, channel, req}
    end
  end

  defp route("PATCH", ["channels", cid], user, req) do
    with {:ok, channel_id} <- snowflake(cid),
         {:ok, guild} <- guild_of(channel_id),
         {:ok, body, req} <- read_json(req),
         {:ok, attrs} <- channel_attrs(body, false),
         {:ok, channel} <- Guild.update_channel(guild, user.id, channel_id, attrs) do
      {200, channel, req}
    end
  end

  defp route("DELETE", ["channels", cid], user, req) do
    with {:ok, channel_id} <- snowflake(cid),
         {:ok, guild} <- guild_of(channel_id),
         {:ok, channel} <- Guild.delete_channel(guild, user.id, channel_id) do
      {200, channel, req}
    end
  end

  defp route("POST", ["guilds", gid, "roles"], user, req) do
    with {:ok, guild} <- guild(gid),
         {:ok, body, req} <- read_json(req),
         {:ok, attrs} <- role_attrs(body),
         {:ok, role} <- Guild.create_role(guild, user.id, attrs) do
      {200, role, req}
    end
  end

  defp route("DELETE", ["guilds", gid, "roles", rid], user, req) do
    with {:ok, guild} <- guild(gid),
         {:ok, role_id} <- snowflake(rid, :unknown_role),
         :ok <- Guild.delete_role(guild, user.id, role_id) do
      {204, nil, req}
    end
  end

  defp route("PATCH", ["guilds", gid, "members", uid], user, req) do
    with {:ok, guild} <- guild(gid),
         {:ok, user_id} <- snowflake(uid, :unknown_member),
         {:ok, body, req} <- read_json(req),
         {:ok, attrs} <- member_attrs(body),
         {:ok, member} <- Guild.update_member(guild, user.id, user_id, attrs) do
      {200, member, req}
    end
  end

  defp route("DELETE", ["guilds", gid, "members", uid], user, req) do
    with {:ok, guild} <- guild(gid),
         {:ok, user_id} <- snowflake(uid, :unknown_member),
         :ok <- Guild.remove_member(guild, user.id, user_id) do
      {204, nil, req}
    end
  end

  defp route(_method, _path, _user, req), do: {404, error("404: Not Found", 0), req}

  defp guild(gid) do
    with {:ok, id} <- snowflake(gid, :unknown_guild),
         {:ok, pid} <- Placement.lookup(id) do
      {:ok, pid}
    else
      _ -> {:error, :unknown_guild}
    end
  end

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

  defp error_reply(:unknown_channel, req), do: {404, error("Unknown Channel", 10_003), req}
  defp error_reply(:unknown_guild, req), do: {404, error("Unknown Guild", 10_004), req}
  defp error_reply(:unknown_member, req), do: {404, error("Unknown Member", 10_007), req}
  defp error_reply(:unknown_message, req), do: {404, error("Unknown Message", 10_008), req}
  defp error_reply(:unknown_role, req), do: {404, error("Unknown Role", 10_011), req}
  defp error_reply(:unknown_user, req), do: {404, error("Unknown User", 10_013), req}
  defp error_reply(:cannot_edit, req), do: {403, error("Cannot edit a message authored by another user", 50_005), req}
  defp error_reply(:missing_access, req), do: {403, error("Missing Access", 50_001), req}
  defp error_reply(:missing_permissions, req), do: {403, error("Missing Permissions", 50_013), req}
  defp error_reply(:empty_message, req), do: {400, error("Cannot send an empty message", 50_006), req}
  defp error_reply({:invalid_form, field, msg}, req), do: {400, form_error(field, msg), req}
  defp error_reply(:bad_json, req), do: {400, error("400: Bad Request", 50_109), req}
  defp error_reply(:too_large, req), do: {413, error("Request entity too large", 40_005), req}

  defp error(message, code), do: %{"message" => message, "code" => code}

  defp form_error(field, msg) do
    %{
      "message" => "Invalid Form Body",
      "code" => 50_035,
      "errors" => %{field => %{"_errors" => [%{"code" => "BASE_TYPE_INVALID", "message" => msg}]}}
    }
  end

  defp snowflake(s, error \\ :unknown_channel) do
    case Integer.parse(s) do
      {n, ""} when n > 0 -> {:ok, n}
      _ -> {:error, error}
    end
  end

  defp guild_of(channel_id) do
    with {:ok, guild_id} <- Directory.guild_of_channel(channel_id),
         {:ok, pid} <- Placement.lookup(guild_id) do
      {:ok, pid}
    else
      :error -> {:error, :unknown_channel}
    end
  end

  defp read_json(req) do
    case :cowboy_req.read_body(req, %{length: @max_body, period: 5_000}) do
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
    cond do
      String.length(content) > 2000 -> {:error, {:invalid_form, "content", "Must be 2000 or fewer in length."}}
      String.trim(content) == "" -> {:error, :empty_message}
      true -> {:ok, content, nonce(body["nonce"])}
    end
  end

  defp message_body(%{"content" => _}), do: {:error, {:invalid_form, "content", "Could not interpret the value as a string."}}
  defp message_body(_), do: {:error, :empty_message}

  defp nonce(n) when is_binary(n) or is_integer(n), do: n
  defp nonce(_), do: nil

  defp application(user) do
    app = Directory.application()

    %{
      "id" => to_string(app.id),
      "name" => app.name,
      "icon" => nil,
      "description" => app.description,
      "rpc_origins" => [],
      "bot_public" => true,
      "bot_require_code_grant" => false,
      "bot" => Payloads.user(user),
      "terms_of_service_url" => nil,
      "privacy_policy_url" => nil,
      "owner" => Payloads.user(user),
      "verify_key" => String.duplicate("0", 64),
      "team" => nil,
      "guild_id" => nil,
      "flags" => app.flags,
      "tags" => [],
      "install_params" => nil,
      "custom_install_url" => nil
    }
  end

  defp gateway_url, do: Application.get_env(:realtime, :gateway_url, "ws://127.0.0.1:4000")
end
