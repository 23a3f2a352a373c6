defmodule Realtime.Guild.Placement do
  @moduledoc """
  Where guild processes live: every lookup of a guild goes through here.

  A guild runs on its owner, the node `Realtime.Cluster.Ring` maps its id
  to, and is registered there in `Realtime.Guild.Registry`. A lookup is the
  ring, then that node's registry: local when this node is the owner, one
  remote call otherwise. Sessions only ever hold the pid and monitor it, so
  a guild that moves shows up as a `:DOWN` and a new lookup.

  On one node (no cluster configured) the ring has this node alone and
  everything is local.
  """

  alias Realtime.Cluster.Ring

  @registry Realtime.Guild.Registry
  # A remote registry lookup is one round trip; an owner that does not
  # answer this fast is treated as not having the guild (yet).
  @remote_timeout 2_000

  @doc "The pid of guild `id`, on whichever node owns it."
  @spec lookup(integer) :: {:ok, pid} | :error
  def lookup(id), do: lookup_on(Ring.owner(id), id)

  defp lookup_on(nil, _id), do: :error
  defp lookup_on(owner, id) when owner == node(), do: lookup_local(id)

  defp lookup_on(owner, id) do
    :erpc.call(owner, __MODULE__, :lookup_local, [id], @remote_timeout)
  catch
    # The owner is unreachable, or still starting (no registry yet).
    :error, {:erpc, _} -> :error
    :error, {:exception, _, _} -> :error
    :exit, _ -> :error
  end

  @doc "The pid of guild `id` if it runs on this node."
  @spec lookup_local(integer) :: {:ok, pid} | :error
  def lookup_local(id) do
    case Registry.lookup(@registry, id) do
      [{pid, _}] -> {:ok, pid}
      [] -> :error
    end
  end

  @doc "Whether this node owns guild `id` on the current ring."
  @spec owned?(integer) :: boolean
  def owned?(id), do: Ring.owner(id) == node()

  @doc "Starts the process of guild `id` on this node, which loads itself from the store."
  @spec start(integer) :: DynamicSupervisor.on_start()
  def start(id), do: DynamicSupervisor.start_child(Realtime.Guild.DynamicSupervisor, {Realtime.Guild, id})

  @doc "Stops guild `id`'s process on this node, if it runs here."
  @spec stop(integer) :: :ok
  def stop(id) do
    with {:ok, pid} <- lookup_local(id), do: DynamicSupervisor.terminate_child(Realtime.Guild.DynamicSupervisor, pid)
    :ok
  end

  @doc "The ids of the guilds running on this node."
  @spec running() :: [integer]
  def running, do: Registry.select(@registry, [{{:"$1", :_, :_}, [], [:"$1"]}])

  @doc "The name a guild process registers under."
  @spec via(integer) :: {:via, Registry, {atom, integer}}
  def via(id), do: {:via, Registry, {@registry, id}}
end
