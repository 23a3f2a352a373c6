defmodule Realtime.Guild.Loader do
  @moduledoc """
  Starts the stored guilds, then idles: restarting it (after
  `Realtime.Guild.DynamicSupervisor` restarts) starts them again. On the
  very first start it imports the seed dataset into the store
  (`Realtime.Guild.Rows.import_once/2`). Each guild loads itself from the
  store.
  """
  use GenServer
  require Logger

  alias Realtime.Guild.{Placement, Rows}
  alias Realtime.Store

  @doc false
  @spec start_link([map]) :: GenServer.on_start()
  def start_link(seed_guilds), do: GenServer.start_link(__MODULE__, seed_guilds)

  @impl true
  def init(seed_guilds) do
    with :ok <- Rows.import_once(Store.handle(), seed_guilds),
         {:ok, ids} <- Rows.guild_ids(Store.handle()) do
      Enum.each(ids, &start/1)
      {:ok, length(ids)}
    else
      {:error, reason} -> {:stop, {:store, reason}}
    end
  end

  defp start(id) do
    with {:error, reason} <- Placement.start(id), do: Logger.error("guild #{id} did not start: #{inspect(reason)}")
  end
end
