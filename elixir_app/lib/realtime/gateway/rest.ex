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

    {status, body, req} =
      case authenticate(req) do
        {:ok, user} -> route(method, path, user, req)
        :error -> {401, error("401: Unauthorized", 0), req}
      end

    req = :cowboy_req.reply(status, %{"content-type" => "application/json"}, JSON.encode(body), req)
    {:ok, req, opts}
  end

  defp authenticate(req) do
    case :cowboy_req.header("authorization", req) do
      "Bot " <> token -> Directory.authenticate(token)
      _ -> :error
    end
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
    else
      {:error, reason} -> error_reply(reason, req)
    end
  end

  defp route("POST", ["channels", id, "messages"], user, req) do
    with {:ok, channel_id} <- snowflake(id),
         {:ok, body, req} <- read_json(req),
         {:ok, content, nonce} <- message_body(body),
         {:ok, guild} <- guild_of(channel_id),
         {:ok, message} <- Guild.create_message(guild, channel_id, user.id, content, nonce) do
      {200, message, req}
    else
      {:error, reason} -> error_reply(reason, req)
      {:error, reason, req} -> error_reply(reason, req)
    end
  end

  defp route(_method, _path, _user, req), do: {404, error("404: Not Found", 0), req}

  defp error_reply(:unknown_channel, req), do: {404, error("Unknown Channel", 10_003), req}
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

  defp snowflake(s) do
    case Integer.parse(s) do
      {n, ""} when n > 0 -> {:ok, n}
      _ -> {:error, :unknown_channel}
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
