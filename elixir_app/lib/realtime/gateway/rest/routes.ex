defmodule Realtime.Gateway.Rest.Routes do
  @moduledoc """
  The REST routes we serve, as Discord's OpenAPI spec names them
  (`/channels/{channel_id}/messages`), and the matching of a request path
  against them. A route is public when the spec lets it be called without
  a token (`GET /gateway`).

  The template is the route's identity everywhere: the handler dispatches
  on `{method, template}`, rate-limit buckets are keyed by it, and the
  conformance tests look up its response schema with it. Routes marked
  `:extension` are ours, not Discord's (`spec: false`).
  """

  @routes [
    {"GET", "/gateway", :public},
    {"GET", "/gateway/bot", :bot},
    {"GET", "/users/@me", :bot},
    {"GET", "/oauth2/applications/@me", :bot},
    {"GET", "/applications/@me", :bot},
    {"GET", "/applications/{application_id}/commands", :bot},
    {"PUT", "/applications/{application_id}/commands", :bot},
    {"GET", "/applications/{application_id}/guilds/{guild_id}/commands", :bot},
    {"PUT", "/applications/{application_id}/guilds/{guild_id}/commands", :bot},
    {"GET", "/guilds/{guild_id}", :bot},
    {"GET", "/guilds/{guild_id}/channels", :bot},
    {"POST", "/guilds/{guild_id}/channels", :bot},
    {"GET", "/guilds/{guild_id}/roles", :bot},
    {"POST", "/guilds/{guild_id}/roles", :bot},
    {"DELETE", "/guilds/{guild_id}/roles/{role_id}", :bot},
    {"GET", "/guilds/{guild_id}/members", :bot},
    {"GET", "/guilds/{guild_id}/members/{user_id}", :bot},
    {"PATCH", "/guilds/{guild_id}/members/{user_id}", :bot},
    {"DELETE", "/guilds/{guild_id}/members/{user_id}", :bot},
    {"GET", "/channels/{channel_id}", :bot},
    {"PATCH", "/channels/{channel_id}", :bot},
    {"DELETE", "/channels/{channel_id}", :bot},
    {"GET", "/channels/{channel_id}/messages", :bot},
    {"POST", "/channels/{channel_id}/messages", :bot},
    {"GET", "/channels/{channel_id}/messages/{message_id}", :bot},
    {"PATCH", "/channels/{channel_id}/messages/{message_id}", :bot},
    {"DELETE", "/channels/{channel_id}/messages/{message_id}", :bot},
    {"PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me", :bot},
    {"DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me", :bot},
    {"POST", "/channels/{channel_id}/typing", :bot},
    # Ours, not in Discord's bot API spec: a user's notification settings
    # for a guild, which mute pushes (see Realtime.Push.Preferences).
    {"PATCH", "/users/@me/guilds/{guild_id}/settings", :bot, :extension}
  ]

  @type route :: %{method: String.t(), template: String.t(), auth: :public | :bot, spec: boolean}

  # Each template as segments: literal binaries, or {:param, name}.
  @compiled (for route <- @routes do
               [method, template, auth | extension] = Tuple.to_list(route)

               segments =
                 template
                 |> String.split("/", trim: true)
                 |> Enum.map(fn
                   "{" <> rest -> {:param, String.trim_trailing(rest, "}")}
                   literal -> literal
                 end)

               {%{method: method, template: template, auth: auth, spec: extension == []}, segments}
             end)

  @doc "Every route served, in the order of the table above."
  @spec all() :: [route]
  def all, do: Enum.map(@compiled, &elem(&1, 0))

  @doc """
  The route for `method` and the path's `segments` (after `/api/v10`),
  with the path parameters by name; `{:error, :method_not_allowed}` when the
  path exists with other methods, `{:error, :not_found}` when it does not.
  """
  @spec match(String.t(), [String.t()]) :: {:ok, route, %{String.t() => String.t()}} | {:error, :not_found | :method_not_allowed}
  def match(method, segments) do
    matches = for {route, pattern} <- @compiled, params <- [bind(pattern, segments, %{})], params != nil, do: {route, params}

    case Enum.find(matches, fn {route, _} -> route.method == method end) do
      {route, params} -> {:ok, route, params}
      nil when matches != [] -> {:error, :method_not_allowed}
      nil -> {:error, :not_found}
    end
  end

  defp bind([], [], params), do: params
  defp bind([{:param, name} | pattern], [value | rest], params), do: bind(pattern, rest, Map.put(params, name, value))
  defp bind([literal | pattern], [literal | rest], params), do: bind(pattern, rest, params)
  defp bind(_pattern, _segments, _params), do: nil

  @doc "The major parameter of a request, which splits a route's rate-limit bucket: its channel, else its guild."
  @spec major(%{String.t() => String.t()}) :: String.t() | nil
  def major(%{"channel_id" => id}), do: id
  def major(%{"guild_id" => id}), do: id
  def major(_params), do: nil
end
