defmodule Realtime.Guild.Supervisor do
  @moduledoc """
  The guilds: a dynamic supervisor with one `Realtime.Guild` per guild, and
  the loader that starts the guilds of the dataset. `rest_for_one`: if the
  dynamic supervisor itself gives up (a crash storm), the loader restarts
  after it and brings every guild back, so guilds are never lost for good.
  """
  use Supervisor

  @doc false
  @spec start_link([map]) :: Supervisor.on_start()
  def start_link(guilds), do: Supervisor.start_link(__MODULE__, guilds, name: __MODULE__)

  @impl true
  def init(guilds) do
    children = [
      # One guild crashing often must not take the others down with it.
      {DynamicSupervisor, name: Realtime.Guild.DynamicSupervisor, strategy: :one_for_one, max_restarts: 100, max_seconds: 5},
      {Realtime.Guild.Loader, guilds}
    ]

    Supervisor.init(children, strategy: :rest_for_one)
  end
end
