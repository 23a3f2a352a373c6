defmodule Realtime.Fanout.Remote do
  @moduledoc """
  The recipients of a fanout that live on other nodes, and their delivery
  in the manner of Discord's Manifold: one distribution message per node
  that has recipients, carrying the event (encoded once, as refc binaries
  that cross the wire once) and that node's pids. `Realtime.Fanout.Relay` on
  the receiving node delivers it locally.

  A pure data structure, kept by its owner (a guild) beside its local
  `Realtime.Fanout` table, over the same slots: `put/3` and `delete/2`
  return it changed. Each remote node has a `Realtime.Bitmap` of its slots,
  so `send/3` is one intersection per node with the event's recipients.

  Order: everything one owner sends to one node goes through the same relay
  process, and the relay hands each pid always to the same local delivery
  process, so one owner's events reach each remote recipient in order.
  """

  alias Realtime.Bitmap
  alias Realtime.Fanout.Relay

  defstruct nodes: %{}, pids: %{}

  @type t :: %__MODULE__{nodes: %{node => Bitmap.t()}, pids: %{non_neg_integer => pid}}

  @doc "No remote recipients."
  @spec new() :: t
  def new, do: %__MODULE__{}

  @doc "Binds `slot` to `pid`, a process on another node."
  @spec put(t, non_neg_integer, pid) :: t
  def put(%__MODULE__{} = remote, slot, pid) when is_pid(pid) and node(pid) != node() do
    bitmap = Map.get_lazy(remote.nodes, node(pid), &Bitmap.new/0)
    Bitmap.put(bitmap, slot)
    %{remote | nodes: Map.put(remote.nodes, node(pid), bitmap), pids: Map.put(remote.pids, slot, pid)}
  end

  @doc "Unbinds `slot` (absent is fine)."
  @spec delete(t, non_neg_integer) :: t
  def delete(%__MODULE__{} = remote, slot) do
    case Map.pop(remote.pids, slot) do
      {nil, _} ->
        remote

      {pid, pids} ->
        bitmap = Map.fetch!(remote.nodes, node(pid))
        Bitmap.delete(bitmap, slot)
        nodes = if Bitmap.size(bitmap) == 0, do: Map.delete(remote.nodes, node(pid)), else: remote.nodes
        %{remote | nodes: nodes, pids: pids}
    end
  end

  @doc "The pids bound on `node`."
  @spec pids_on(t, node) :: [pid]
  def pids_on(%__MODULE__{} = remote, node) do
    case remote.nodes do
      %{^node => slots} -> slots |> Bitmap.to_list() |> Enum.map(&Map.fetch!(remote.pids, &1))
      _ -> []
    end
  end

  @doc """
  Sends `message` to the remote pids of the slots in `recipients`: one
  message per node that has any. Returns the number of recipients.
  """
  @spec send(t, Bitmap.t(), term) :: non_neg_integer
  def send(%__MODULE__{pids: pids}, _recipients, _message) when map_size(pids) == 0, do: 0

  def send(%__MODULE__{} = remote, recipients, message) do
    Enum.reduce(remote.nodes, 0, fn {node, slots}, n ->
      case Bitmap.intersection(recipients, slots) |> Bitmap.to_list() do
        [] ->
          n

        here ->
          targets = Enum.map(here, &Map.fetch!(remote.pids, &1))
          Relay.relay(node, targets, message)
          n + length(targets)
      end
    end)
  end
end
