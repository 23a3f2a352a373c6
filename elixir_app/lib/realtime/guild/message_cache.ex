defmodule Realtime.Guild.MessageCache do
  @moduledoc """
  A guild's newest messages per channel, in front of `Realtime.Store`: the
  messages a guild edits, deletes and reacts to are nearly always recent,
  and the pages clients read most are the latest.

  One ETS `ordered_set` per guild, owned by the guild process, keyed
  `{channel_id, message_id}` (snowflakes, so key order is time order), with
  at most `per_channel` messages per channel (`:message_cache_per_channel`,
  default 100; the oldest go first).

  **Invariant:** for each channel the cache holds a *suffix* of its history:
  every stored message newer than the oldest cached one is cached. New
  messages enter at the newest end (`put_new/2`), edits only replace what
  is there (`update/2`), and a channel is filled from the store by its
  newest messages (`fill/3`). So a page the cache can answer is exactly the
  page the store would give, and `page/4` says `:miss` otherwise.
  """

  @default_per_channel 100

  defstruct [:table, :per_channel]

  @type t :: %__MODULE__{table: :ets.tid(), per_channel: pos_integer}
  @type page :: Realtime.Store.page()

  @doc "An empty cache owned by the calling process."
  @spec new(pos_integer) :: t
  def new(per_channel \\ Application.get_env(:realtime, :message_cache_per_channel, @default_per_channel)),
    do: %__MODULE__{table: :ets.new(__MODULE__, [:ordered_set, :protected]), per_channel: per_channel}

  @doc "The most messages a channel keeps."
  @spec per_channel(t) :: pos_integer
  def per_channel(%__MODULE__{per_channel: n}), do: n

  @doc "Adds a message newer than every cached one of its channel, evicting the oldest beyond the cap."
  @spec put_new(t, map) :: :ok
  def put_new(%__MODULE__{table: table, per_channel: cap}, %{channel_id: cid, id: id} = msg) do
    if :ets.insert_new(table, {{cid, id}, msg}) do
      count = :ets.update_counter(table, {:count, cid}, 1, {{:count, cid}, 0})
      if count > cap, do: delete_oldest(table, cid)
    end

    :ok
  end

  @doc "Fills channel `cid` with its newest messages, newest first, as read from the store."
  @spec fill(t, integer, [map]) :: :ok
  def fill(cache, _cid, newest_first), do: newest_first |> Enum.reverse() |> Enum.each(&put_new(cache, &1))

  @doc "Replaces a cached message (an edit, a reaction); a message not cached stays out."
  @spec update(t, map) :: :ok
  def update(%__MODULE__{table: table}, %{channel_id: cid, id: id} = msg) do
    if :ets.member(table, {cid, id}), do: :ets.insert(table, {{cid, id}, msg})
    :ok
  end

  defp delete_oldest(table, cid) do
    case :ets.next(table, {cid, 0}) do
      {^cid, _} = key -> delete_key(table, key)
      _ -> :ok
    end
  end

  @doc "The cached message `id` of channel `cid`."
  @spec fetch(t, integer, integer) :: {:ok, map} | :error
  def fetch(%__MODULE__{table: table}, cid, id) do
    case :ets.lookup(table, {cid, id}) do
      [{_, msg}] -> {:ok, msg}
      [] -> :error
    end
  end

  @doc "Forgets a message."
  @spec delete(t, integer, integer) :: :ok
  def delete(%__MODULE__{table: table}, cid, id), do: delete_key(table, {cid, id})

  defp delete_key(table, {cid, _} = key) do
    if :ets.member(table, key) do
      :ets.delete(table, key)
      :ets.update_counter(table, {:count, cid}, -1)
    end

    :ok
  end

  @doc "Forgets a channel."
  @spec delete_channel(t, integer) :: :ok
  def delete_channel(%__MODULE__{table: table}, cid) do
    :ets.match_delete(table, {{cid, :_}, :_})
    :ets.delete(table, {:count, cid})
    :ok
  end

  @doc "The id of the newest cached message of channel `cid`, or `nil`."
  @spec last_id(t, integer) :: integer | nil
  def last_id(%__MODULE__{table: table}, cid) do
    # Atoms sort after integers, so this key follows all of the channel's.
    case :ets.prev(table, {cid, :end}) do
      {^cid, id} -> id
      _ -> nil
    end
  end

  @doc """
  Up to `limit` messages of channel `cid`, newest first, when the cache
  can answer exactly what the store would (see the invariant): the latest
  or those before an id when it holds `limit` of them, those after an id
  not older than its oldest. `:miss` otherwise.
  """
  @spec page(t, integer, page, pos_integer) :: {:ok, [map]} | :miss
  def page(%__MODULE__{table: table}, cid, page, limit), do: cached_page(table, cid, page, limit)

  defp cached_page(table, cid, :latest, limit), do: full(walk(table, cid, &:ets.prev/2, {cid, :end}, limit), limit)
  defp cached_page(table, cid, {:before, id}, limit), do: full(walk(table, cid, &:ets.prev/2, {cid, id}, limit), limit)

  defp cached_page(table, cid, {:after, id}, limit) do
    case :ets.next(table, {cid, 0}) do
      {^cid, oldest} when id >= oldest -> {:ok, table |> walk(cid, &:ets.next/2, {cid, id}, limit) |> Enum.reverse()}
      _ -> :miss
    end
  end

  defp cached_page(_table, _cid, {:around, _}, _limit), do: :miss

  defp full(msgs, limit) when length(msgs) == limit, do: {:ok, msgs}
  defp full(_msgs, _limit), do: :miss

  # Steps from `key` (exclusive) with `step`, collecting messages of `cid`.
  defp walk(table, cid, step, key, limit), do: walk(table, cid, step, key, limit, [])

  defp walk(_table, _cid, _step, _key, 0, acc), do: Enum.reverse(acc)

  defp walk(table, cid, step, key, n, acc) do
    case step.(table, key) do
      {^cid, _} = next ->
        [{_, msg}] = :ets.lookup(table, next)
        walk(table, cid, step, next, n - 1, [msg | acc])

      _ ->
        Enum.reverse(acc)
    end
  end
end
