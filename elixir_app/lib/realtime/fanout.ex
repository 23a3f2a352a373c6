defmodule Realtime.Fanout do
  @moduledoc """
  Delivers one message to many processes: a table from slot numbers to pids,
  and `send/3`, which delivers to every pid whose slot is in a
  `Realtime.Bitmap`.

  Sending is handed off, the way Discord's Manifold takes it out of the
  guild process. `send/3` resolves slots to pids in the NIF (in slices of
  about half a millisecond per call, so no normal scheduler is held long),
  split into one list per scheduler by slot, and hands each list to a
  delivery process (`Realtime.Fanout.Deliverer`), which sends. The caller
  sees one call and gets back the number of recipients handed off.

  Guarantees:
  - a slot always goes to the same delivery process, so messages sent
    through a table reach each recipient in the order they were sent;
    messages sent to the same process by other means are not ordered with
    them;
  - slots without a pid are skipped, and so are dead processes;
  - `sync/1` waits until every delivery handed off so far was made.

  A bitmap changed during a `send/3` is read slice by slice: members added or
  removed ahead of the cursor take effect within the same send.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.{Bitmap, Native}
  alias Realtime.Fanout.{Deliverer, Supervisor}

  @opaque t :: reference

  @doc "An empty slot table."
  @spec new() :: t
  def new, do: Native.fanout_new()

  @doc "Binds `slot` (at most 67,108,863) to `pid`."
  @spec put(t, non_neg_integer, pid) :: :ok
  def put(table, slot, pid) when is_integer(slot) and slot in 0..67_108_863 and is_pid(pid),
    do: Native.fanout_put(table, slot, pid)

  def put(_table, slot, pid),
    do: raise(ArgumentError, "expected a slot in 0..67108863 and a local pid, got: #{inspect(slot)}, #{inspect(pid)}")

  @doc "Unbinds `slot`."
  @spec delete(t, non_neg_integer) :: :ok
  def delete(table, slot), do: Native.fanout_delete(table, slot)

  @doc """
  Delivers `message` to the pid of every slot in `bitmap`. Returns the number
  of recipients handed to the delivery processes.
  """
  @spec send(t, Bitmap.t(), term) :: non_neg_integer
  def send(table, bitmap, message), do: send_from(table, bitmap, message, 0, 0, Supervisor.shards())

  defp send_from(table, bitmap, message, cursor, total, shards) do
    case Native.fanout_resolve(table, bitmap, cursor, shards) do
      {:done, lists} ->
        total + hand_off(lists, message)

      {:cont, next, lists} ->
        send_from(table, bitmap, message, next, total + hand_off(lists, message), shards)

      :reschedule ->
        Metrics.inc(:dirty, "fanout")
        # The bitmap is being written: a dirty read of its size waits for
        # the writer, then the send carries on.
        Bitmap.size(bitmap)
        send_from(table, bitmap, message, cursor, total, shards)
    end
  end

  defp hand_off(lists, message) do
    lists
    |> Enum.with_index()
    |> Enum.reduce(0, fn
      {[], _}, n -> n
      {pids, i}, n -> Deliverer.deliver(Deliverer.name(i), pids, message) && n + length(pids)
    end)
  end

  @doc "Returns once every delivery handed off before this call was made."
  @spec sync(timeout) :: :ok
  def sync(timeout \\ 5_000) do
    for i <- 0..(Supervisor.shards() - 1), do: GenServer.call(Deliverer.name(i), :sync, timeout)
    :ok
  end

  @doc "The pids of the slots in `bitmap`, in slot order."
  @spec pids(t, Bitmap.t()) :: [pid]
  def pids(table, bitmap), do: Native.fanout_pids(table, bitmap)
end
