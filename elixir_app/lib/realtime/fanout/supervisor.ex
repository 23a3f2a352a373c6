defmodule Realtime.Fanout.Supervisor do
  @moduledoc """
  Supervises the delivery processes of `Realtime.Fanout`, one per scheduler,
  and the relay that delivers other nodes' fanouts here
  (`Realtime.Fanout.Relay`).
  """
  use Supervisor

  alias Realtime.Fanout.{Deliverer, Relay}

  @doc false
  @spec start_link(keyword) :: Supervisor.on_start()
  def start_link(_opts), do: Supervisor.start_link(__MODULE__, System.schedulers_online(), name: __MODULE__)

  @doc "The number of delivery processes (shards)."
  @spec shards() :: pos_integer
  def shards, do: System.schedulers_online()

  @impl true
  def init(n) do
    deliverers = for i <- 0..(n - 1), do: Supervisor.child_spec({Deliverer, i}, id: {Deliverer, i})
    # The relay finds deliverers by name, so each may restart alone.
    Supervisor.init(deliverers ++ [Relay], strategy: :one_for_one)
  end
end
