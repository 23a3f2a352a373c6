defmodule Realtime.Fanout do
  @moduledoc """
  Delivers one message to many processes: a table from slot numbers to pids,
  and `send/3`, which sends to every pid whose slot is in a
  `Realtime.Bitmap`.

  `send/3` is one call for the caller, but the NIF works in slices (about
  half a millisecond of sending per NIF call),
  so no normal scheduler is held for more than about a millisecond. The
  message is built once, by the caller; each recipient gets a copy of the
  (small) term, and large binaries inside it are shared, not copied.

  Slots without a pid, and dead processes, are skipped. Messages from one
  process to one recipient arrive in the order they were sent. A bitmap
  changed during a send is read chunk by chunk: members added or removed
  ahead of the cursor take effect within the same send.
  """

  alias Realtime.{Bitmap, Native}

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

  @doc "Sends `message` to the pid of every slot in `bitmap`; returns how many were sent."
  @spec send(t, Bitmap.t(), term) :: non_neg_integer
  def send(table, bitmap, message), do: send_from(table, bitmap, message, 0, 0)

  defp send_from(table, bitmap, message, cursor, total) do
    case Native.fanout_send(table, bitmap, message, cursor) do
      {:done, sent} -> total + sent
      {:cont, next, sent} -> send_from(table, bitmap, message, next, total + sent)
      :reschedule -> wait_and_retry(table, bitmap, message, cursor, total)
    end
  end

  # The bitmap is being written by another process; a dirty read of its size
  # waits for that writer, then the send carries on.
  defp wait_and_retry(table, bitmap, message, cursor, total) do
    Bitmap.size(bitmap)
    send_from(table, bitmap, message, cursor, total)
  end

  @doc "The pids of the slots in `bitmap`, in slot order."
  @spec pids(t, Bitmap.t()) :: [pid]
  def pids(table, bitmap), do: Native.fanout_pids(table, bitmap)
end
