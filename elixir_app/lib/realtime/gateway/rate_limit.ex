defmodule Realtime.Gateway.RateLimit do
  @moduledoc """
  The gateway's limit on client frames: at most `limit` in any window of
  `window_ms` (120 per 60 s by default). A sliding log of timestamps, so a
  burst at a window's edge cannot double the rate.
  """

  defstruct limit: 120, window_ms: 60_000, times: :queue.new(), count: 0

  @type t :: %__MODULE__{}

  @doc "A limiter."
  @spec new(pos_integer, pos_integer) :: t
  def new(limit \\ 120, window_ms \\ 60_000), do: %__MODULE__{limit: limit, window_ms: window_ms}

  @doc "Records a frame at `now_ms`: `{:ok, limiter}` or `:limited`."
  @spec hit(t, integer) :: {:ok, t} | :limited
  def hit(rl, now_ms) do
    rl = expire(rl, now_ms - rl.window_ms)

    if rl.count >= rl.limit,
      do: :limited,
      else: {:ok, %{rl | times: :queue.in(now_ms, rl.times), count: rl.count + 1}}
  end

  defp expire(rl, cutoff) do
    case :queue.peek(rl.times) do
      {:value, t} when t <= cutoff -> expire(%{rl | times: :queue.drop(rl.times), count: rl.count - 1}, cutoff)
      _ -> rl
    end
  end
end
