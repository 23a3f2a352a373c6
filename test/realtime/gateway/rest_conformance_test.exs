defmodule Realtime.Gateway.RestConformanceTest do
  @moduledoc """
  Every REST route we serve, answered with every status we produce for it,
  validated against the response Discord's OpenAPI spec documents for that
  route and status (`Realtime.Test.Schema`), over real HTTP on loopback.
  """
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.Gateway.Rest.Routes
  alias Realtime.JSON
  alias Realtime.Test.Schema

  @ada 1_200_000_000_000_000_001
  @grace 1_200_000_000_000_000_002
  @category 1_100_000_000_000_000_100
  @lounge 1_100_000_000_000_000_104
  @chat 1_100_000_000_000_000_301
  @ratelimit_headers ~w(x-ratelimit-limit x-ratelimit-remaining x-ratelimit-reset x-ratelimit-reset-after x-ratelimit-bucket)

  setup_all do
    on_exit(fn ->
      restore_guild(1_100_000_000_000_000_001)
      restore_guild(1_100_000_000_004_194_305)
    end)
  end

  # Sends a request, checks its status, validates the answer against the
  # spec's response for the route and status, and checks the rate-limit
  # headers. Returns the decoded body.
  defp call(port, method, path, token, status, body \\ nil) do
    body = if is_map(body) or is_list(body), do: JSON.encode(body), else: body
    {got, headers, raw} = Client.rest_raw(port, method, "/api/v10" <> path, token, body)
    assert got == status, "#{method} #{path}: expected #{status}, got #{got}: #{raw}"

    [path_only | _] = String.split(path, "?")
    {:ok, route, _} = Routes.match(method |> Atom.to_string() |> String.upcase(), String.split(path_only, "/", trim: true))
    errors = Schema.response_errors(route.method, route.template, status, raw)
    assert errors == [], "#{method} #{path} (#{status}) does not match the spec:\n#{Enum.join(errors, "\n")}\n#{raw}"

    for h <- @ratelimit_headers, do: assert(List.keymember?(headers, h, 0), "#{method} #{path}: no #{h} header")
    send(self(), {:served, route.method, route.template})
    raw && elem(JSON.decode(raw), 1)
  end

  test "every route and status we serve matches Discord's spec", %{port: port} do
    d = @demo

    # Gateway, user, application
    call(port, :get, "/gateway", nil, 200)
    call(port, :get, "/gateway", d, 200)
    %{"session_start_limit" => %{"max_concurrency" => 1}} = call(port, :get, "/gateway/bot", d, 200)
    call(port, :get, "/gateway/bot", nil, 401)
    call(port, :get, "/users/@me", d, 200)
    call(port, :get, "/users/@me", "forged.token", 401)
    call(port, :get, "/oauth2/applications/@me", d, 200)
    call(port, :get, "/applications/@me", d, 200)
    call(port, :get, "/applications/1/commands", d, 200)
    call(port, :put, "/applications/1/commands", d, 200, [])
    call(port, :get, "/applications/1/guilds/#{@hq}/commands", d, 200)
    call(port, :put, "/applications/1/guilds/#{@hq}/commands", d, 200, [])

    # Guilds
    for g <- [@hq, @side], do: call(port, :get, "/guilds/#{g}", d, 200)
    %{"approximate_member_count" => 1204} = call(port, :get, "/guilds/#{@hq}?with_counts=true", d, 200)
    call(port, :get, "/guilds/#{@hq}?with_counts=maybe", d, 400)
    call(port, :get, "/guilds/42", d, 404)
    for g <- [@hq, @side], do: call(port, :get, "/guilds/#{g}/channels", d, 200)
    for g <- [@hq, @side], do: call(port, :get, "/guilds/#{g}/roles", d, 200)
    %{"id" => role} = call(port, :post, "/guilds/#{@hq}/roles", d, 200, %{"name" => "conformance", "permissions" => "1024"})
    call(port, :delete, "/guilds/#{@hq}/roles/#{role}", d, 204)
    call(port, :delete, "/guilds/#{@hq}/roles/42", d, 404)
    %{"id" => created} = call(port, :post, "/guilds/#{@hq}/channels", d, 201, %{"name" => "made-here", "type" => 0})
    call(port, :post, "/guilds/#{@hq}/channels", d, 400, %{"name" => ""})
    call(port, :post, "/guilds/#{@hq}/channels", @limited, 403, %{"name" => "nope"})

    members = call(port, :get, "/guilds/#{@hq}/members?limit=1000", d, 200)
    assert length(members) == 1000
    call(port, :get, "/guilds/#{@hq}/members?limit=1000&after=#{List.last(members)["user"]["id"]}", d, 200)
    call(port, :get, "/guilds/#{@side}/members", d, 200)
    call(port, :get, "/guilds/#{@hq}/members?limit=abc", d, 400)
    call(port, :get, "/guilds/#{@hq}/members", @limited, 403)
    call(port, :get, "/guilds/#{@hq}/members/#{@ada}", d, 200)
    call(port, :get, "/guilds/#{@hq}/members/42", d, 404)
    call(port, :patch, "/guilds/#{@hq}/members/#{@grace}", d, 200, %{"nick" => "Gracie"})
    call(port, :patch, "/guilds/#{@hq}/members/#{@grace}", d, 400, %{"nick" => 5})
    call(port, :delete, "/guilds/#{@side}/members/#{@grace}", @limited, 403)
    call(port, :delete, "/guilds/#{@hq}/members/#{@grace}", d, 204)

    # Channels: text, voice, category
    for c <- [@general, @lounge, @category, @chat], do: call(port, :get, "/channels/#{c}", d, 200)
    call(port, :get, "/channels/#{@staff}", d, 403)
    call(port, :get, "/channels/42", d, 404)
    call(port, :patch, "/channels/#{created}", d, 200, %{"topic" => "set by the conformance test"})
    call(port, :delete, "/channels/#{created}", d, 200)
    call(port, :post, "/channels/#{@general}/typing", d, 204)

    # Messages, history, reactions
    %{"id" => m1} = call(port, :post, "/channels/#{@general}/messages", d, 200, %{"content" => "first", "nonce" => "n-1"})
    %{"id" => m2} = call(port, :post, "/channels/#{@general}/messages", d, 200, %{"content" => "hi <@#{@ada}> <@&1100000000000000012>"})
    call(port, :post, "/channels/#{@general}/messages", d, 400, %{"content" => "x", "nonce" => String.duplicate("n", 26)})
    call(port, :post, "/channels/#{@announcements}/messages", d, 403, %{"content" => "x"})
    call(port, :put, "/channels/#{@general}/messages/#{m2}/reactions/%F0%9F%91%8D/@me", d, 204)
    call(port, :put, "/channels/#{@general}/messages/#{m2}/reactions/nope:123/@me", d, 400)
    call(port, :put, "/channels/#{@general}/messages/42/reactions/%F0%9F%91%8D/@me", d, 404)
    %{"reactions" => [%{"me" => true, "count" => 1}]} = call(port, :get, "/channels/#{@general}/messages/#{m2}", d, 200)
    call(port, :get, "/channels/#{@general}/messages/42", d, 404)
    call(port, :patch, "/channels/#{@general}/messages/#{m1}", d, 200, %{"content" => "first, edited"})
    call(port, :patch, "/channels/#{@general}/messages/#{m1}", @limited, 403, %{"content" => "not mine"})

    for q <- ["", "?limit=100", "?before=#{m2}", "?after=0", "?after=#{m1}", "?around=#{m1}&limit=3"],
        do: call(port, :get, "/channels/#{@general}/messages#{q}", d, 200)

    for q <- ["?limit=0", "?limit=101", "?limit=abc", "?before=-1", "?around=x"],
        do: call(port, :get, "/channels/#{@general}/messages#{q}", d, 400)

    call(port, :get, "/channels/#{@staff}/messages", d, 403)
    call(port, :delete, "/channels/#{@general}/messages/#{m2}/reactions/%F0%9F%91%8D/@me", d, 204)
    call(port, :delete, "/channels/#{@general}/messages/#{m2}", d, 204)
    call(port, :delete, "/channels/#{@general}/messages/#{m2}", d, 404)
    call(port, :delete, "/channels/#{@general}/messages/#{m1}", d, 204)

    served = collect_served(MapSet.new())
    # Our extensions are not in Discord's spec; their own tests cover them.
    missing = for r <- Routes.all(), r.spec, not MapSet.member?(served, {r.method, r.template}), do: "#{r.method} #{r.template}"
    assert missing == [], "routes without a conformance check: #{inspect(missing)}"
  end

  test "unknown routes and methods get Discord's error bodies", %{port: port} do
    assert {404, _, raw} = Client.rest_raw(port, :get, "/api/v10/nowhere", @demo)
    assert Schema.errors("ErrorResponse", elem(JSON.decode(raw), 1)) == []
    assert {405, _, raw} = Client.rest_raw(port, :post, "/api/v10/users/@me", @demo, "{}")
    assert %{"code" => 0, "message" => "405: Method Not Allowed"} = elem(JSON.decode(raw), 1)
  end

  defp collect_served(acc) do
    receive do
      {:served, m, t} -> collect_served(MapSet.put(acc, {m, t}))
    after
      0 -> acc
    end
  end
end
