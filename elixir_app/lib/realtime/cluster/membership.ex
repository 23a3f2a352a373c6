defmodule Realtime.Cluster.Membership do
  @moduledoc """
  Who is in the cluster, and the ring that follows from it.

  The candidate nodes come from configuration: `REALTIME_CLUSTER_NODES`
  (comma-separated node names) or the `:cluster_nodes` application env. The
  members are this node plus the candidates it is connected to, as
  `:net_kernel.monitor_nodes/1` reports them, that have declared themselves
  ready (`ready/1`, called once the application has started). Every node derives its ring
  from its member list alone, so nodes that see the same members place every
  guild the same way. Nodes that are not candidates (a remote shell, a test
  runner) may connect but never become members.

  **Quorum.** Guilds are placed only among members that see a majority of
  the configured nodes (this one included). A node cut off on the minority
  side of a netsplit publishes an empty ring: it owns no guild, its loader
  stops the ones it ran, and the majority takes them over (their leases,
  see `Realtime.Guild.Lease`, fence out anything the minority still
  sends). Without a majority anywhere, no guild runs: the cluster chooses
  consistency over availability. A node with no cluster configured is a
  majority of one.

  Candidates that are not connected are retried every `:reconnect_ms`
  (default 1,000), so a node that comes back rejoins without an operator.
  Distributed Erlang keeps a full mesh: each node holds a connection to
  every other, which published measurements put at a practical limit of
  60–200 nodes.
  """

  use GenServer

  require Logger

  alias Realtime.Cluster.Ring

  @type option :: {:nodes, [node]} | {:reconnect_ms, pos_integer} | {:name, GenServer.name()} | {:ready, boolean}

  @doc "Starts the membership process; see the module doc for options."
  @spec start_link([option]) :: GenServer.on_start()
  def start_link(opts \\ []), do: GenServer.start_link(__MODULE__, opts, name: Keyword.get(opts, :name, __MODULE__))

  @doc """
  Sends `{:cluster_members, members}` to the caller whenever the members
  change, until it exits.
  """
  @spec subscribe(GenServer.server()) :: :ok
  def subscribe(server \\ __MODULE__), do: GenServer.call(server, {:subscribe, self()})

  @doc "The current members, sorted."
  @spec members(GenServer.server()) :: [node]
  def members(server \\ __MODULE__), do: GenServer.call(server, :members)

  @doc "Candidate nodes from `REALTIME_CLUSTER_NODES` or the `:cluster_nodes` env."
  @spec configured() :: [node]
  def configured do
    case System.get_env("REALTIME_CLUSTER_NODES") do
      nil -> Application.get_env(:realtime, :cluster_nodes, [])
      text -> text |> String.split(",", trim: true) |> Enum.map(&(&1 |> String.trim() |> String.to_atom()))
    end
  end

  @doc """
  The member list: this node and the connected candidates, sorted. Pure, so
  that every node's answer can be checked without a cluster.
  """
  @spec members_of(node, [node], [node]) :: [node]
  def members_of(self, candidates, connected) do
    connected = MapSet.new(connected)
    [self | Enum.filter(candidates, &MapSet.member?(connected, &1))] |> Enum.uniq() |> Enum.sort()
  end

  @doc """
  The nodes that may own guilds: `members` if they are a majority of
  `cluster_size` configured nodes, else none. Pure.
  """
  @spec owners([node], pos_integer) :: [node]
  def owners(members, cluster_size) when length(members) * 2 > cluster_size, do: members
  def owners(_members, _cluster_size), do: []

  @doc """
  Declares this node ready to own guilds (its application has started),
  and tells the connected nodes. Until then, and until another node has
  said so, a node is connected but not a member: guilds are never handed to
  a node that cannot take them yet.
  """
  @spec ready(GenServer.server()) :: :ok
  def ready(server \\ __MODULE__), do: GenServer.call(server, :ready)

  @impl true
  def init(opts) do
    :ok = :net_kernel.monitor_nodes(true)
    candidates = Keyword.get_lazy(opts, :nodes, &configured/0) -- [node()]

    state = %{
      candidates: candidates,
      reconnect_ms: Keyword.get(opts, :reconnect_ms, 1_000),
      members: nil,
      subscribers: %{},
      ready?: Keyword.get(opts, :ready, false),
      # Connected nodes that said they are ready.
      ready: MapSet.new()
    }

    {:ok, refresh(state), {:continue, :connect}}
  end

  @impl true
  def handle_continue(:connect, state) do
    state = connect(state)
    # Nodes connected before this process ran saw no nodeup from it.
    if state.ready?, do: for(n <- Node.list(), do: announce(n, true))
    {:noreply, state}
  end

  @impl true
  def handle_call(:members, _from, state), do: {:reply, state.members, state}

  def handle_call({:subscribe, pid}, _from, state),
    do: {:reply, :ok, %{state | subscribers: Map.put(state.subscribers, Process.monitor(pid), pid)}}

  def handle_call(:ready, _from, state) do
    for n <- Node.list(), do: announce(n, true)
    {:reply, :ok, refresh(%{state | ready?: true})}
  end

  @impl true
  def handle_info({:nodeup, node}, state) do
    if state.ready?, do: announce(node, true)
    {:noreply, refresh(state)}
  end

  def handle_info({:nodedown, node}, state), do: {:noreply, refresh(%{state | ready: MapSet.delete(state.ready, node)})}

  # Another node is ready; it asks for our word back when it has just met us.
  def handle_info({:ready, node, answer?}, state) do
    if answer? and state.ready?, do: announce(node, false)
    {:noreply, refresh(%{state | ready: MapSet.put(state.ready, node)})}
  end

  def handle_info(:connect, state), do: {:noreply, connect(state)}
  def handle_info({:DOWN, ref, :process, _, _}, state), do: {:noreply, %{state | subscribers: Map.delete(state.subscribers, ref)}}

  defp announce(node, answer?), do: :erlang.send({__MODULE__, node}, {:ready, node(), answer?}, [:noconnect])

  # Node.connect/1 blocks for at most net_kernel's connect timeout; it
  # returns :ignored when this node is not distributed.
  defp connect(state) do
    if Node.alive?() do
      for n <- state.candidates, n not in Node.list(), do: Node.connect(n)
      Process.send_after(self(), :connect, state.reconnect_ms)
    end

    refresh(state)
  end

  defp refresh(state) do
    connected = Enum.filter(Node.list(), &MapSet.member?(state.ready, &1))
    members = if state.ready?, do: members_of(node(), state.candidates, connected), else: [node()]

    if members != state.members do
      owners = if state.ready?, do: owners(members, length(state.candidates) + 1), else: []
      Ring.publish(if state.candidates == [], do: :local, else: owners)
      quorum = if owners == [] and state.candidates != [], do: " (no majority: this node owns no guild)", else: ""
      Logger.info("cluster members: #{Enum.join(members, ", ")}#{quorum}")
      for {_, pid} <- state.subscribers, do: send(pid, {:cluster_members, members})
    end

    %{state | members: members}
  end
end
