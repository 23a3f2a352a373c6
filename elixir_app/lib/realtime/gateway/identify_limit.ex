defmodule Realtime.Gateway.IdentifyLimit do
  @moduledoc """
  Discord's limits on starting sessions, per bot account:

    * **identify concurrency** - identifies are admitted one per
      `interval_ms` (5 s) per bucket, where a session's bucket is
      `shard_id rem max_concurrency`. A bucket is a `Realtime.Semaphore`
      of one slot, leased for the interval.
    * **session start limit** - at most `total` identifies per `reset_ms`
      (1,000 per 24 h), reported by `GET /gateway/bot` as
      `session_start_limit`. Resumes do not count.

  An identify over either limit is answered with op 9 Invalid Session, as
  Discord documents (Discord would also reset the token of a bot that runs
  out of session starts; we do not).

  User accounts (not bots) are unlimited, so load tests are not throttled.
  A bot's `max_concurrency` and `total` come from its account
  (`"max_concurrency"` and `"session_start_total"` in the dataset), and
  application env `:identify_limits` overrides them and the periods:
  `%{interval_ms: 5_000, reset_ms: 86_400_000, accounts: %{user_id => %{max_concurrency: n, total: n}}}`;
  `enabled: false` lifts the limits for every account.
  """

  alias Realtime.{Semaphore, WindowCounter}

  @type limits :: %{max_concurrency: pos_integer, total: pos_integer, interval_ms: pos_integer, reset_ms: pos_integer}

  @doc "The limits of `user`'s account, or `:unlimited` for a user account."
  @spec limits(map) :: limits | :unlimited
  def limits(%{bot: false}), do: :unlimited

  def limits(user) do
    env = Application.get_env(:realtime, :identify_limits, %{})
    if Map.get(env, :enabled, true), do: bot_limits(user, env), else: :unlimited
  end

  defp bot_limits(user, env) do
    %{
      max_concurrency: Map.get(user, :max_concurrency, 1),
      total: Map.get(user, :session_start_total, 1_000),
      interval_ms: Map.get(env, :interval_ms, 5_000),
      reset_ms: Map.get(env, :reset_ms, 86_400_000)
    }
    |> Map.merge(get_in(env, [:accounts, user.id]) || %{})
  end

  @doc """
  Admits an identify of `user` on `shard_id`, counting it: `:ok`, or
  `{:error, :concurrency}` when its bucket identified within the interval,
  or `{:error, :session_start_limit}` when the account has none left.
  """
  @spec admit(map, non_neg_integer) :: :ok | {:error, :concurrency | :session_start_limit}
  def admit(user, shard_id), do: admit(user, shard_id, limits(user))

  defp admit(_user, _shard_id, :unlimited), do: :ok

  defp admit(user, shard_id, limits) do
    bucket = {:identify, user.id, rem(shard_id, limits.max_concurrency)}

    with :ok <- lease(bucket, limits.interval_ms),
         {count, _} when count <= limits.total <- WindowCounter.hit({:session_start, user.id}, limits.reset_ms) do
      :ok
    else
      :full -> {:error, :concurrency}
      {_count, _ends_at} -> {:error, :session_start_limit}
    end
  end

  defp lease(bucket, ms), do: Semaphore.acquire_lease(bucket, 1, ms)

  @doc """
  The `session_start_limit` object of `GET /gateway/bot` for `user`:
  `total`, `remaining`, `reset_after` (ms) and `max_concurrency`.
  """
  @spec session_start_limit(map) :: map
  def session_start_limit(user) do
    limits =
      case limits(user) do
        :unlimited -> %{max_concurrency: 1, total: 1_000, reset_ms: 86_400_000}
        limits -> limits
      end

    now = WindowCounter.now()
    {count, ends_at} = WindowCounter.peek({:session_start, user.id}, limits.reset_ms, now)

    %{
      "total" => limits.total,
      "remaining" => max(limits.total - count, 0),
      "reset_after" => ends_at - now,
      "max_concurrency" => limits.max_concurrency
    }
  end
end
