defmodule Realtime.Gateway.RestRateLimitTest do
  @moduledoc "Discord's REST rate limits over real HTTP: buckets, headers, 429s, the global limit."
  use Realtime.Test.GatewayCase, async: false

  alias Realtime.Test.Schema

  @route_limit 3

  setup do
    saved = Application.get_env(:realtime, :rest_rate_limits)
    # Each test starts with no open windows (earlier tests' are counted
    # under other limits).
    :ets.delete_all_objects(Realtime.WindowCounter)
    on_exit(fn -> Application.put_env(:realtime, :rest_rate_limits, saved) end)
    :ok
  end

  defp limits(limits), do: Application.put_env(:realtime, :rest_rate_limits, limits)

  defp get(port, path, token \\ @demo) do
    {status, headers, raw} = Client.rest_raw(port, :get, "/api/v10" <> path, token)
    {status, Map.new(headers), raw}
  end

  test "a route's bucket counts down in its headers, then answers 429 until it resets", %{port: port} do
    # A long period: the window cannot end while the test runs.
    limits(%{global: {1_000, 1_000}, default: {@route_limit, 60_000}, routes: %{}})
    path = "/channels/#{@general}/messages/#{System.unique_integer([:positive])}"

    remaining =
      for _ <- 1..@route_limit do
        {404, h, _} = get(port, path)
        assert h["x-ratelimit-limit"] == "#{@route_limit}"
        assert String.to_float(h["x-ratelimit-reset-after"]) > 0
        assert String.to_float(h["x-ratelimit-reset"]) > System.os_time(:second)
        String.to_integer(h["x-ratelimit-remaining"])
      end

    assert remaining == [2, 1, 0]
    {429, h, raw} = get(port, path)
    assert Schema.response_errors("GET", "/channels/{channel_id}/messages/{message_id}", 429, raw) == []
    body = :jsx.decode(raw, [:return_maps])
    assert body["global"] == false and body["retry_after"] > 0
    assert h["x-ratelimit-scope"] == "user" and h["x-ratelimit-remaining"] == "0"
    assert String.to_integer(h["retry-after"]) >= 1

    # Buckets are per route and per major parameter (the channel), and per caller.
    assert {200, _, _} = get(port, "/users/@me")
    assert {404, _, _} = get(port, "/channels/#{@announcements}/messages/1")
    assert {404, _, _} = get(port, path, @limited)
    # Routes in one bucket share its id; others differ.
    {_, a, _} = get(port, "/channels/#{@announcements}/messages/2")
    {_, b, _} = get(port, "/users/@me")
    assert a["x-ratelimit-bucket"] == h["x-ratelimit-bucket"] and b["x-ratelimit-bucket"] != a["x-ratelimit-bucket"]
  end

  test "the window reopens after its period", %{port: port} do
    limits(%{global: {1_000, 1_000}, default: {1, 300}, routes: %{}})
    assert {200, _, _} = get(port, "/users/@me")
    {429, h, _} = get(port, "/users/@me")
    Process.sleep(ceil(String.to_float(h["x-ratelimit-reset-after"]) * 1000) + 20)
    assert {200, h, _} = get(port, "/users/@me")
    assert h["x-ratelimit-remaining"] == "0"
  end

  test "the global limit covers every route of a caller and says so", %{port: port} do
    limits(%{global: {4, 60_000}, default: {1_000, 60_000}, routes: %{}})
    for path <- ["/users/@me", "/gateway/bot", "/guilds/#{@hq}", "/guilds/#{@hq}/roles"], do: assert({200, _, _} = get(port, path))
    {429, h, raw} = get(port, "/guilds/#{@hq}/channels")
    assert %{"global" => true, "retry_after" => retry} = :jsx.decode(raw, [:return_maps])
    assert retry > 0 and h["x-ratelimit-global"] == "true" and h["x-ratelimit-scope"] == "global"
    # Another caller is not affected.
    assert {200, _, _} = get(port, "/users/@me", @limited)
  end

  test "requests without a token are limited by address", %{port: port} do
    limits(%{global: {1_000, 1_000}, default: {2, 60_000}, routes: %{}})
    assert {200, _, _} = get(port, "/gateway", nil)
    assert {401, h, _} = get(port, "/gateway/bot", "forged")
    assert h["x-ratelimit-remaining"] == "1"
    assert {200, _, _} = get(port, "/gateway", nil)
    assert {429, _, _} = get(port, "/gateway", nil)
  end

  test "concurrent requests never get more than the limit through", %{port: port} do
    limits(%{global: {10_000, 60_000}, default: {25, 60_000}, routes: %{}})
    path = "/channels/#{@general}/messages/#{System.unique_integer([:positive])}"

    statuses =
      1..100
      |> Task.async_stream(fn _ -> elem(get(port, path), 0) end, max_concurrency: 20, timeout: 10_000)
      |> Enum.map(fn {:ok, s} -> s end)

    assert Enum.frequencies(statuses) == %{404 => 25, 429 => 75}
  end

  test "with limiting off, nothing is counted or refused, and no headers are sent", %{port: port} do
    limits(%{enabled: false, default: {1, 60_000}, routes: %{}})
    for _ <- 1..5, do: assert({200, h, _} = get(port, "/users/@me")) && refute(Map.has_key?(h, "x-ratelimit-limit"))
  end
end
