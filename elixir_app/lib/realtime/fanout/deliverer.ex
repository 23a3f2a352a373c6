defmodule Realtime.Fanout.Deliverer do
  @moduledoc """
  One delivery process of `Realtime.Fanout`: it sends a message to each pid
  of the lists it is handed, in the order it was handed them.

  There is one per scheduler, started by `Realtime.Fanout.Supervisor`; shard
  `i` of every fanout goes to deliverer `i`.
  """
  use GenServer

  @doc false
  @spec start_link(non_neg_integer) :: GenServer.on_start()
  def start_link(index), do: GenServer.start_link(__MODULE__, index, name: name(index))

  @doc "The registered name of deliverer `index`."
  @spec name(non_neg_integer) :: atom
  def name(index), do: :"#{__MODULE__}.#{index}"

  @doc "Delivers `message` to `pids`, asynchronously."
  @spec deliver(GenServer.server(), [pid], term) :: :ok
  def deliver(deliverer, pids, message) do
    send(deliverer, {:deliver, pids, message})
    :ok
  end

  @impl true
  def init(index), do: {:ok, index}

  @impl true
  def handle_info({:deliver, pids, message}, state) do
    send_all(pids, message)
    {:noreply, state}
  end

  @impl true
  def handle_call(:sync, _from, state), do: {:reply, :ok, state}

  @doc false
  @spec send_all([pid], term) :: :ok
  def send_all([], _message), do: :ok

  def send_all([pid | rest], message) do
    send(pid, message)
    send_all(rest, message)
  end
end
