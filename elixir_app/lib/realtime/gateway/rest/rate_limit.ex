defmodule Realtime.Gateway.Rest.RateLimit do
  @moduledoc """
  REST rate limits the way Discord applies them: a bucket per route (and per
  major parameter: the channel or guild in the path) for each caller, and a
  global limit per caller across all routes (50 requests per second for a
  bot). Every answer carries the bucket's `X-RateLimit-*` headers; a request
  over a limit gets 429 with `retry_after`, `global` and
  `X-RateLimit-Scope`.

  A window opens at a bucket's first request and lasts the bucket's period,
  so `X-RateLimit-Reset-After` counts down from the first request, as on
  Discord.

  Counting is `Realtime.WindowCounter`: atomic ETS counters updated by the
  requesting processes, so no process sits on the request path and the
  counts hold under concurrency.

  ## Configuration

  Application env `:rest_rate_limits`, a map (missing keys take the
  defaults below):

    * `:enabled` - `false` turns limiting off: nothing is counted or refused,
      and answers carry no rate-limit headers (for a deployment behind a
      proxy that limits)
    * `:global` - `{limit, period_ms}` per caller, default `{50, 1_000}`
    * `:default` - a route's `{limit, period_ms}`, default `{10, 1_000}`
    * `:routes` - `%{{method, template} => {limit, period_ms} | {bucket, limit, period_ms}}`;
      routes naming the same `bucket` share it, as Discord's reaction routes do

  Discord does not publish its per-route numbers; the defaults follow what
  its headers show (5 messages per 5 s per channel, one reaction per
  250 ms).
  """
  alias Realtime.WindowCounter

  @defaults %{
    enabled: true,
    global: {50, 1_000},
    default: {10, 1_000},
    routes: %{
      {"POST", "/channels/{channel_id}/messages"} => {5, 5_000},
      {"PATCH", "/channels/{channel_id}/messages/{message_id}"} => {5, 5_000},
      {"DELETE", "/channels/{channel_id}/messages/{message_id}"} => {5, 1_000},
      {"PUT", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"} => {:reactions, 1, 250},
      {"DELETE", "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me"} => {:reactions, 1, 250},
      {"POST", "/channels/{channel_id}/typing"} => {5, 5_000},
      {"GET", "/gateway/bot"} => {2, 5_000}
    }
  }

  @typedoc "Who is limited: a bot or user account, or an address for requests without a token."
  @type caller :: {:user, integer} | {:ip, :inet.ip_address()}
  @type route :: {String.t(), String.t()}
  @type headers :: %{String.t() => String.t()}
  @type verdict :: {:ok, headers} | {:limited, :user | :global, retry_after_ms :: non_neg_integer, headers}

  @doc """
  Counts a request of `caller` to `route` with major parameter `major`
  (the channel or guild id in the path, or `nil`) and says whether it may
  proceed, with the headers to send either way; `:off` when limiting is
  turned off.
  """
  @spec check(caller, route, term) :: verdict | :off
  def check(caller, route, major), do: check(config(), caller, route, major)

  defp check(%{enabled: false}, _caller, _route, _major), do: :off

  defp check(config, caller, route, major) do
    now = WindowCounter.now()
    wall = System.os_time(:millisecond)
    {bucket, limit, period} = bucket(config, route)
    key = {:rest, caller, bucket, major}

    cond do
      (global = over_global(config, caller, now)) != :ok ->
        {count, reset_at} = WindowCounter.peek(key, period, now)
        {:limited, :global, global, Map.put(headers(bucket, limit, count, reset_at, now, wall), "x-ratelimit-global", "true")}

      true ->
        {count, reset_at} = WindowCounter.hit(key, period, now)
        headers = headers(bucket, limit, count, reset_at, now, wall)
        if count > limit, do: {:limited, :user, reset_at - now, headers}, else: {:ok, headers}
    end
  end

  defp over_global(%{global: {limit, period}}, caller, now) do
    {count, reset_at} = WindowCounter.hit({:rest, caller, :global}, period, now)
    if count > limit, do: reset_at - now, else: :ok
  end

  defp bucket(config, route) do
    case Map.get(config.routes, route, config.default) do
      {name, limit, period} -> {name, limit, period}
      {limit, period} -> {route, limit, period}
    end
  end

  defp headers(bucket, limit, count, reset_at, now, wall) do
    after_ms = max(reset_at - now, 0)

    %{
      "x-ratelimit-limit" => Integer.to_string(limit),
      "x-ratelimit-remaining" => Integer.to_string(max(limit - count, 0)),
      "x-ratelimit-reset" => seconds(wall + after_ms),
      "x-ratelimit-reset-after" => seconds(after_ms),
      "x-ratelimit-bucket" => bucket_id(bucket)
    }
  end

  # Discord's bucket ids are opaque and the same for routes that share one.
  defp bucket_id(bucket), do: bucket |> :erlang.phash2(4_294_967_296) |> Integer.to_string(16) |> String.downcase()

  defp seconds(ms), do: :erlang.float_to_binary(ms / 1000, decimals: 3)

  defp config do
    configured = Application.get_env(:realtime, :rest_rate_limits, %{})
    Map.merge(@defaults, Map.new(configured))
  end
end
