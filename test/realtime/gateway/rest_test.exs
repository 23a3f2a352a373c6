defmodule Realtime.Gateway.RestTest do
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.JSON

  defp post(port, channel, token, body), do: Client.rest(port, :post, "/api/v10/channels/#{channel}/messages", token, body)

  test "endpoints bot libraries call, under v10 and v9", %{port: port} do
    for v <- ["v10", "v9"] do
      assert {200, headers, %{"id" => "1000000000000000001", "bot" => true}} = Client.rest(port, :get, "/api/#{v}/users/@me", @demo)
      assert {"content-type", "application/json"} = List.keyfind(headers, "content-type", 0)
    end

    assert {200, _, %{"url" => "ws://127.0.0.1:" <> _}} = Client.rest(port, :get, "/api/v10/gateway", @demo)
    assert {200, _, %{"shards" => 1, "session_start_limit" => %{"max_concurrency" => 1}}} = Client.rest(port, :get, "/api/v10/gateway/bot", @demo)
    assert {200, _, %{"id" => _, "flags" => _, "bot" => _}} = Client.rest(port, :get, "/api/v10/oauth2/applications/@me", @demo)
    assert {200, _, []} = Client.rest(port, :get, "/api/v10/applications/1/commands", @demo)
    assert {200, _, %{"name" => "general", "type" => 0}} = Client.rest(port, :get, "/api/v10/channels/#{@general}", @demo)
  end

  test "documented errors for bad input", %{port: port} do
    assert {401, _, %{"code" => 0}} = Client.rest(port, :get, "/api/v10/users/@me", nil)
    assert {401, _, _} = Client.rest(port, :get, "/api/v10/users/@me", "forged.token.value")
    assert {404, _, %{"message" => "404: Not Found"}} = Client.rest(port, :get, "/api/v10/nowhere", @demo)
    assert {404, _, %{"code" => 10_003}} = post(port, 42, @demo, JSON.encode(%{"content" => "x"}))
    assert {404, _, %{"code" => 10_003}} = post(port, "abc", @demo, JSON.encode(%{"content" => "x"}))
    # No VIEW_CHANNEL in the hidden channel; no SEND_MESSAGES in announcements.
    assert {403, _, %{"code" => 50_001}} = post(port, @staff, @demo, JSON.encode(%{"content" => "x"}))
    assert {403, _, %{"code" => 50_001}} = Client.rest(port, :get, "/api/v10/channels/#{@staff}", @demo)
    assert {403, _, %{"code" => 50_013}} = post(port, @announcements, @demo, JSON.encode(%{"content" => "x"}))
    assert {400, _, %{"code" => 50_035, "errors" => %{"content" => _}}} = post(port, @general, @demo, JSON.encode(%{"content" => String.duplicate("é", 2001)}))
    assert {400, _, %{"code" => 50_035}} = post(port, @general, @demo, JSON.encode(%{"content" => 12}))
    assert {400, _, %{"code" => 50_006}} = post(port, @general, @demo, JSON.encode(%{"content" => "  "}))
    assert {400, _, %{"code" => 50_006}} = post(port, @general, @demo, JSON.encode(%{"embeds" => []}))
    assert {400, _, %{"code" => 50_109}} = post(port, @general, @demo, "{not json")
    assert {413, _, _} = post(port, @general, @demo, JSON.encode(%{"content" => String.duplicate("x", 20_000)}))
    # Exactly 2000 characters is fine.
    assert {200, _, %{"content" => c}} = post(port, @general, @demo, JSON.encode(%{"content" => String.duplicate("é", 2000)}))
    assert String.length(c) == 2000
  end
end
