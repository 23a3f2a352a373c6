defmodule Realtime.Cluster.Watcher do
  @moduledoc """
  Watches this node's processes for watchers on other nodes, and tells each
  watcher of the ones that ended in batches: the idea of Discord's
  `zen_monitor`.

  A guild with sessions on other nodes does not monitor each one. It asks
  the watcher on the session's node (`watch/2`) and monitors the node
  itself (`:erlang.monitor_node/2`). Then:

    * sessions that end on a live node reach the guild as
      `{:sessions_down, pids}`, at most one message every `@batch_ms` per
      guild, however many ended;
    * a node that goes away is one `{:nodedown, node}` for the guild, not
      one `:DOWN` per session it held. 100k sessions on a dead node do not
      put 100k messages into one mailbox.
  """
  use GenServer

  @batch_ms 50

  @doc false
  @spec start_link(keyword) :: GenServer.on_start()
  def start_link(_opts), do: GenServer.start_link(__MODULE__, nil, name: __MODULE__)

  @doc "Asks the watcher on `pid`'s node to tell `watcher` when `pid` ends."
  @spec watch(pid, pid) :: :ok
  def watch(pid, watcher) do
    _ = :erlang.send({__MODULE__, node(pid)}, {:watch, pid, watcher}, [:noconnect])
    :ok
  end

  @impl true
  def init(nil), do: {:ok, %{watched: %{}, ended: %{}}}

  @impl true
  def handle_info({:watch, pid, watcher}, state) do
    {:noreply, %{state | watched: Map.put(state.watched, Process.monitor(pid), {pid, watcher})}}
  end

  def handle_info({:DOWN, ref, :process, _, _}, state) do
    case Map.pop(state.watched, ref) do
      {nil, _} ->
        {:noreply, state}

      {{pid, watcher}, watched} ->
        if state.ended == %{}, do: Process.send_after(self(), :flush, @batch_ms)
        {:noreply, %{state | watched: watched, ended: Map.update(state.ended, watcher, [pid], &[pid | &1])}}
    end
  end

  def handle_info(:flush, state) do
    for {watcher, pids} <- state.ended, do: send(watcher, {:sessions_down, Enum.reverse(pids)})
    {:noreply, %{state | ended: %{}}}
  end
end
