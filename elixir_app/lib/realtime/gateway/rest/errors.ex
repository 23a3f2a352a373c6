defmodule Realtime.Gateway.Rest.Errors do
  @moduledoc """
  The one place where an error reason becomes Discord's answer: its HTTP
  status and its JSON error body (`ErrorResponse` in the spec: `code`,
  `message`, and `errors` naming the fields of an invalid form). Codes are
  Discord's JSON error codes.
  """

  @type reason ::
          atom
          | {:invalid_form, String.t(), String.t()}
          | {:rate_limited, :user | :global, non_neg_integer}
          | {:store, Realtime.Store.reason()}

  @doc "The status and body for `reason`."
  @spec reply(reason) :: {pos_integer, map}
  def reply(:unauthorized), do: {401, error("401: Unauthorized", 0)}
  def reply(:not_found), do: {404, error("404: Not Found", 0)}
  def reply(:method_not_allowed), do: {405, error("405: Method Not Allowed", 0)}
  def reply(:unavailable), do: {503, error("503: Service Unavailable", 0)}
  # The store did not take a write (or answer a read): nothing happened.
  def reply({:store, _reason}), do: {503, error("503: Service Unavailable", 0)}
  def reply(:unknown_channel), do: {404, error("Unknown Channel", 10_003)}
  def reply(:unknown_guild), do: {404, error("Unknown Guild", 10_004)}
  def reply(:unknown_member), do: {404, error("Unknown Member", 10_007)}
  def reply(:unknown_message), do: {404, error("Unknown Message", 10_008)}
  def reply(:unknown_role), do: {404, error("Unknown Role", 10_011)}
  def reply(:unknown_user), do: {404, error("Unknown User", 10_013)}
  def reply(:unknown_emoji), do: {400, error("Unknown Emoji", 10_014)}
  def reply(:cannot_edit), do: {403, error("Cannot edit a message authored by another user", 50_005)}
  def reply(:missing_access), do: {403, error("Missing Access", 50_001)}
  def reply(:missing_permissions), do: {403, error("Missing Permissions", 50_013)}
  def reply(:empty_message), do: {400, error("Cannot send an empty message", 50_006)}
  def reply(:bad_json), do: {400, error("400: Bad Request", 50_109)}
  def reply(:too_large), do: {413, error("Request entity too large", 40_005)}
  # Discord's live API puts string codes (BASE_TYPE_INVALID, ...) in
  # `_errors`; its spec says integers, and the spec is our contract, so the
  # field errors carry the form error's own code.
  def reply({:invalid_form, field, message}) do
    {400, %{"message" => "Invalid Form Body", "code" => 50_035, "errors" => %{field => %{"_errors" => [%{"code" => 50_035, "message" => message}]}}}}
  end

  def reply({:rate_limited, scope, retry_after_ms}) do
    {429,
     %{
       "message" => "You are being rate limited.",
       "code" => 0,
       "retry_after" => Float.round(retry_after_ms / 1000, 3),
       "global" => scope == :global
     }}
  end

  defp error(message, code), do: %{"message" => message, "code" => code}
end
