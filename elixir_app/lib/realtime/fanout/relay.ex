defmodule Realtime.Fanout.Relay do
  @moduledoc """
  The receiving end of `Realtime.Fanout.Remote`: one registered process per
  node that takes `{pids, message}` from other nodes and hands the pids to
  this node's `Realtime.Fanout.Deliverer`s, each pid always to the same one
  (by hash), so the order a sender gave is the order each pid sees.

  The relay only splits lists; the sends happen in the deliverers, one per
  scheduler, so one busy remote guild does not hold up the node.
  """
  use GenServer

  alias Realtime.Fanout.{Deliverer, Supervisor}

  @doc false
  @spec start_link(keyword) :: GenServer.on_start()
  def start_link(_opts), do: GenServer.start_link(__MODULE__, Supervisor.shards(), name: __MODULE__)

  @doc "Sends `message` to `pids`, all on `node`, through that node's relay: one distribution message."
  @spec relay(node, [pid], term) :: :ok
  def relay(node, pids, message) do
    # noconnect: a node that is down is not reconnected on the hot path; its
    # sessions are gone, and membership handles the rest.
    _ = :erlang.send({__MODULE__, node}, {:relay, pids, message}, [:noconnect])
    :ok
  end

  @doc "Splits `pids` into `shards` lists by hash, keeping their order within each."
  @spec split([pid], pos_integer) :: [{non_neg_integer, [pid]}]
  def split(pids, shards) do
    pids
    |> Enum.group_by(&:erlang.phash2(&1, shards))
    |> Enum.to_list()
  end

  @impl true
  def init(shards), do: {:ok, shards}

  @impl true
  def handle_info({:relay, pids, message}, shards) do
    for {i, list} <- split(pids, shards), do: Deliverer.deliver(Deliverer.name(i), list, message)
    {:noreply, shards}
  end

  @impl true
  def handle_call(:sync, _from, shards), do: {:reply, :ok, shards}
end
