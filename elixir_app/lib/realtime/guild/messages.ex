defmodule Realtime.Guild.Messages do
  @moduledoc """
  A guild's recent message history, per channel, for editing, deleting,
  reactions and paging (`GET /channels/{id}/messages`).

  One ETS `ordered_set` per guild, owned by the guild process, keyed
  `{channel_id, message_id}`: ids are snowflakes, so key order is time
  order within a channel and a page is a walk of at most `limit` steps from
  any id, in either direction. Keeping the messages off the guild's heap
  also keeps its garbage collections short.

  At most `per_channel` messages are kept per channel (the
  `:history_per_channel` setting, default 1,000; the oldest go first). This is memory, not storage: history is lost
  when the guild restarts.
  """

  @default_per_channel 1_000

  defstruct [:table, :per_channel]

  @type t :: %__MODULE__{table: :ets.tid(), per_channel: pos_integer}
  @type page :: :latest | {:before, integer} | {:after, integer} | {:around, integer}

  @doc """
  An empty history, owned by the calling process, keeping `per_channel`
  messages per channel (default: the `:history_per_channel` setting).
  """
  @spec new(pos_integer) :: t
  def new(per_channel \\ Application.get_env(:realtime, :history_per_channel, @default_per_channel)),
    do: %__MODULE__{table: :ets.new(__MODULE__, [:ordered_set, :protected]), per_channel: per_channel}

  @doc "Stores `msg` (new or edited), evicting the channel's oldest beyond the cap."
  @spec put(t, map) :: :ok
  def put(%__MODULE__{table: table, per_channel: cap}, %{channel_id: cid, id: id} = msg) do
    if :ets.insert_new(table, {{cid, id}, msg}) do
      count = :ets.update_counter(table, {:count, cid}, 1, {{:count, cid}, 0})
      if count > cap, do: delete_oldest(table, cid)
    else
      :ets.insert(table, {{cid, id}, msg})
    end

    :ok
  end

  defp delete_oldest(table, cid) do
    case :ets.next(table, {cid, 0}) do
      {^cid, _} = key -> delete_key(table, key)
      _ -> :ok
    end
  end

  @doc "The message `id` of channel `cid`."
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

  @doc "Forgets a channel's whole history."
  @spec delete_channel(t, integer) :: :ok
  def delete_channel(%__MODULE__{table: table}, cid) do
    :ets.match_delete(table, {{cid, :_}, :_})
    :ets.delete(table, {:count, cid})
    :ok
  end

  @doc "The id of the newest message in channel `cid`, or `nil`."
  @spec last_id(t, integer) :: integer | nil
  def last_id(%__MODULE__{table: table}, cid) do
    # Atoms sort after integers, so this key follows all of the channel's.
    case :ets.prev(table, {cid, :end}) do
      {^cid, id} -> id
      _ -> nil
    end
  end

  @doc """
  Up to `limit` messages of channel `cid`, newest first, as Discord pages
  them: the latest; those before (older than) or after (newer than) an id,
  the nearest ones first; or those around an id (half older, the rest the
  id itself and newer).
  """
  @spec page(t, integer, page, pos_integer) :: [map]
  def page(%__MODULE__{table: table}, cid, page, limit), do: walk_page(table, cid, page, limit)

  defp walk_page(table, cid, :latest, limit), do: walk(table, cid, &:ets.prev/2, {cid, :end}, limit)
  defp walk_page(table, cid, {:before, id}, limit), do: walk(table, cid, &:ets.prev/2, {cid, id}, limit)
  defp walk_page(table, cid, {:after, id}, limit), do: table |> walk(cid, &:ets.next/2, {cid, id}, limit) |> Enum.reverse()

  defp walk_page(table, cid, {:around, id}, limit) do
    older = div(limit, 2)
    newer = table |> walk(cid, &:ets.next/2, {cid, id - 1}, limit - older) |> Enum.reverse()
    newer ++ walk(table, cid, &:ets.prev/2, {cid, id}, older)
  end

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
