defmodule Realtime.Guild.Loader do
  @moduledoc """
  Starts the guilds of the dataset when it starts, then idles: restarting
  it (after `Realtime.Guild.DynamicSupervisor` restarts) starts them again.
  """
  use GenServer

  @doc false
  @spec start_link([map]) :: GenServer.on_start()
  def start_link(guilds), do: GenServer.start_link(__MODULE__, guilds)

  @impl true
  def init(guilds) do
    Enum.each(guilds, &Realtime.Guild.Placement.start/1)
    {:ok, length(guilds)}
  end
end
