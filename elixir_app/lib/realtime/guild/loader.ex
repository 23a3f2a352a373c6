defmodule Realtime.Guild.Loader do
  @moduledoc """
  Starts the stored guilds that this node owns, and keeps the set right as
  the cluster changes: when `Realtime.Cluster.Membership` reports new
  members, guilds this node now owns are started (each loads itself from
  the store, taking its lease) and guilds it no longer owns are stopped
  (their sessions rejoin them on the new owner).

  On the very first start it imports the seed dataset into the store
  (`Realtime.Guild.Rows.import_once/2`).

  While nodes disagree about the members (for a moment, as one joins or
  leaves), two may start the same guild; the second takes the lease, and
  tells the first (`lease_taken/3`), whose guild stops and is started
  again only if its node owns it. Guilds are started one at a time,
  from this process, so that a node taking over a dead node's guilds loads
  them at a bounded pace instead of all at once.
  """
  use GenServer
  require Logger

  # How long a node that sees another join waits before starting the guilds
  # it now owns itself, instead of receiving them by handoff.
  @handoff_grace_ms 3_000

  alias Realtime.Cluster.Membership
  alias Realtime.Guild.{Placement, Rows}
  alias Realtime.Store

  @doc false
  @spec start_link([map]) :: GenServer.on_start()
  def start_link(seed_guilds), do: GenServer.start_link(__MODULE__, seed_guilds, name: __MODULE__)

  @doc """
  What to change so that exactly the owned guilds run: `{start, stop}`.
  Pure, so that placement decisions are testable without processes.
  """
  @spec plan([integer], [integer], (integer -> boolean)) :: {[integer], [integer]}
  def plan(stored, running, owned?) do
    running = MapSet.new(running)
    start = for id <- stored, owned?.(id), not MapSet.member?(running, id), do: id
    stop = for id <- running, not owned?.(id), do: id
    {start, stop}
  end

  @doc """
  Tells `node`'s loader that this node took guild `id`'s lease at `epoch`:
  a process of that guild there is stale. A plain message: a node that is
  unreachable finds out on its next write, which is fenced.
  """
  @spec lease_taken(node, integer, pos_integer) :: :ok
  def lease_taken(node, id, epoch) do
    _ = :erlang.send({__MODULE__, node}, {:lease_taken, id, epoch}, [:noconnect])
    :ok
  end

  @doc "Starts guild `id` again once `pid` (its stopping process) is gone, if this node owns it."
  @spec restart_if_owned(integer, pid) :: :ok
  def restart_if_owned(id, pid) do
    send(__MODULE__, {:restart_if_owned, id, pid})
    :ok
  end

  @doc """
  Asks `node`'s loader to take over guild `id` with `handover` (from a
  guild handing itself over, see `Realtime.Guild.State.handover/1`): it
  starts the guild there if it does not run yet, and gives it the sessions
  and presences. Returns the new process.
  """
  @spec adopt(node, integer, map) :: {:ok, pid} | {:error, term}
  def adopt(node, id, handover) do
    :erpc.call(node, GenServer, :call, [__MODULE__, {:adopt, id, handover}, 30_000], 35_000)
  catch
    kind, reason -> {:error, {kind, reason}}
  end

  @impl true
  def init(seed_guilds) do
    Membership.subscribe()
    state = %{members: [], restarting: %{}}

    with :ok <- Rows.import_once(Store.handle(), seed_guilds),
         {:ok, state} <- rebalance(state, Membership.members()) do
      {:ok, state}
    else
      {:error, reason} -> {:stop, {:store, reason}}
    end
  end

  @impl true
  def handle_call({:adopt, id, handover}, _from, state) do
    reply =
      with true <- Placement.owned?(id) || {:error, :not_owner},
           {:ok, pid} <- started(id),
           :ok <- Realtime.Guild.adopt(pid, handover),
           do: {:ok, pid}

    {:reply, reply, state}
  end

  @impl true
  def handle_info({:lease_taken, id, epoch}, state) do
    with {:ok, pid} <- Placement.lookup_local(id), do: send(pid, {:lease_taken, epoch})
    {:noreply, state}
  end

  def handle_info({:restart_if_owned, id, pid}, state) do
    Process.monitor(pid)
    {:noreply, put_in(state.restarting[pid], id)}
  end

  def handle_info({:DOWN, _, :process, pid, _}, state) do
    {id, restarting} = Map.pop(state.restarting, pid)
    # The registry may not have dropped the dead process yet: only another
    # live process of the guild means it is already back.
    if id && Placement.owned?(id) && not match?({:ok, other} when other != pid, Placement.lookup_local(id)), do: start(id)
    {:noreply, %{state | restarting: restarting}}
  end

  def handle_info({:cluster_members, members}, state) do
    case rebalance(state, members) do
      {:ok, state} ->
        {:noreply, state}

      {:error, reason} ->
        Logger.error("guild placement not updated: #{inspect(reason)}")
        {:noreply, state}
    end
  end

  def handle_info(:start_owned, state) do
    with {:ok, stored} <- Rows.guild_ids(Store.handle()) do
      {start, _} = plan(stored, Placement.running(), &Placement.owned?/1)
      Enum.each(start, &start/1)
    end

    {:noreply, state}
  end

  # Guilds this node no longer owns are handed to their new owner when it is
  # up (else stopped). Guilds it now owns are started at once when a node
  # left (their owner is gone); when one joined, after a grace, so that the
  # guilds moving here arrive by handoff with their sessions first.
  defp rebalance(state, members) do
    with {:ok, stored} <- Rows.guild_ids(Store.handle()) do
      {start, stop} = plan(stored, Placement.running(), &Placement.owned?/1)
      Enum.each(stop, &move/1)
      joined = members -- state.members
      others = List.delete(members, node())

      if joined != [] and others != [],
        do: Process.send_after(self(), :start_owned, @handoff_grace_ms),
        else: Enum.each(start, &start/1)

      {:ok, %{state | members: members}}
    end
  end

  defp move(id) do
    owner = Realtime.Cluster.Ring.owner(id)

    case Placement.lookup_local(id) do
      {:ok, pid} when owner != nil and owner != node() -> Realtime.Guild.hand_off(pid, owner)
      _ -> Placement.stop(id)
    end
  end

  defp started(id) do
    case Placement.start(id) do
      {:ok, pid} -> {:ok, pid}
      {:error, {:already_started, pid}} -> {:ok, pid}
      error -> error
    end
  end

  defp start(id) do
    with {:error, reason} <- Placement.start(id), do: Logger.error("guild #{id} did not start: #{inspect(reason)}")
  end
end
