defmodule Realtime.Gateway.Session do
  @moduledoc """
  One process per identified session. It outlives its connection for the
  resume window, owns the sequence counter and the replay buffer, and holds
  the pids of its guilds (found through `Realtime.Guild.Placement`), which
  it monitors.

  Dispatches reach it from the guilds' fanout as `{:gateway_dispatch, t,
  payload}`; it numbers them, keeps them for resuming, and forwards them to
  its connection process as `{:gateway_dispatch, seq, t, payload}`.
  """

  require Realtime.Metrics, as: Metrics
  use GenServer, restart: :temporary

  alias Realtime.{Directory, Guild}
  alias Realtime.Gateway.{Intents, ReplayBuffer}
  alias Realtime.Guild.Placement

  @registry Realtime.Gateway.SessionRegistry
  # A guild that went down is looked up again this often, this many times.
  @rejoin_every 100
  @rejoin_attempts 100

  defstruct [:id, :user, :intents, :shard, :large_threshold, :encoding, :socket, :socket_ref, :expiry, :identified_at, seq: 0, buffer: nil, guilds: %{}, phase: "identifying"]

  @doc """
  Starts a session for an authenticated Identify and attaches `socket`.
  Options: `:user`, `:intents`, `:shard` (`{id, n}`), `:large_threshold`.
  READY and one GUILD_CREATE per guild of the shard follow as dispatches.
  """
  @spec start(pid, keyword) :: {:ok, pid, String.t()}
  def start(socket, opts) do
    id = node_tag(node()) <> (12 |> :crypto.strong_rand_bytes() |> Base.encode16(case: :lower))
    {:ok, pid} = DynamicSupervisor.start_child(Realtime.Gateway.SessionSupervisor, {__MODULE__, {id, socket, opts}})
    {:ok, pid, id}
  end

  @doc false
  def start_link({id, socket, opts}), do: GenServer.start_link(__MODULE__, {id, socket, opts}, name: {:via, Registry, {@registry, id}})

  @doc """
  Attaches a new connection to session `id` (op 6 Resume): replays what
  came after `seq`, then RESUMED. `{:error, :invalid}` when the session is
  unknown, belongs to another token, or the replay buffer no longer has what
  was missed; `{:error, :invalid_seq}` when `seq` is ahead of the last
  dispatch sent.
  """
  @spec resume(String.t(), pid, integer, map) :: {:ok, pid} | {:error, :invalid | :invalid_seq}
  def resume(id, socket, seq, user) do
    with {:ok, pid} <- whereis(id),
         :ok <- GenServer.call(pid, {:resume, socket, seq, user.id}),
         do: {:ok, pid}
  catch
    :exit, _ -> {:error, :invalid}
  end

  @doc """
  The process of session `id`, on whichever node holds it. A session id
  starts with its node's tag (8 hex digits), so a client that resumes on
  another node of the cluster finds its session; a session whose node is
  gone is not found, and the client gets Invalid Session.
  """
  @spec whereis(String.t()) :: {:ok, pid} | {:error, :invalid}
  def whereis(<<tag::binary-size(8), _::binary>> = id) do
    case Enum.find([node() | Node.list()], &(node_tag(&1) == tag)) do
      nil -> {:error, :invalid}
      n when n == node() -> whereis_local(id)
      n -> :erpc.call(n, __MODULE__, :whereis_local, [id], 2_000)
    end
  catch
    :error, {:erpc, _} -> {:error, :invalid}
    :error, {:exception, _, _} -> {:error, :invalid}
  end

  def whereis(_id), do: {:error, :invalid}

  @doc false
  @spec whereis_local(String.t()) :: {:ok, pid} | {:error, :invalid}
  def whereis_local(id) do
    case Registry.lookup(@registry, id) do
      [{pid, _}] -> {:ok, pid}
      [] -> {:error, :invalid}
    end
  end

  defp node_tag(node), do: node |> :erlang.phash2(4_294_967_296) |> Integer.to_string(16) |> String.downcase() |> String.pad_leading(8, "0")

  @doc "Ends the session now (the client closed with 1000 or 1001)."
  @spec close(pid) :: :ok
  def close(session), do: GenServer.cast(session, :close)

  @doc "Asks the guild of `guild_id` to send member chunks (op 8) to this session."
  @spec request_members(pid, integer, map) :: :ok | {:error, :unknown_guild}
  def request_members(session, guild_id, request), do: GenServer.call(session, {:request_members, guild_id, request})

  @doc "Lazy member list subscriptions (op 14) in guild `guild_id`."
  @spec subscribe_lists(pid, integer, map) :: :ok
  def subscribe_lists(session, guild_id, channels), do: GenServer.cast(session, {:subscribe_lists, guild_id, channels})

  @doc "Publishes this session's presence (op 3) to its guilds."
  @spec update_presence(pid, map) :: :ok
  def update_presence(session, presence), do: GenServer.cast(session, {:update_presence, presence})

  @impl true
  def init({id, socket, opts}) do
    user = Keyword.fetch!(opts, :user)

    state = %__MODULE__{
      id: id,
      user: user,
      intents: Keyword.fetch!(opts, :intents),
      shard: Keyword.get(opts, :shard, {0, 1}),
      large_threshold: Keyword.get(opts, :large_threshold, 50),
      encoding: Keyword.get(opts, :encoding, :json),
      identified_at: Keyword.get_lazy(opts, :identified_at, fn -> System.monotonic_time(:microsecond) end),
      buffer: ReplayBuffer.new(Application.get_env(:realtime, :replay_buffer, 1000))
    }

    Metrics.inc(:sessions, "identifying")
    {:ok, attach(state, socket), {:continue, :ready}}
  end

  @impl true
  def handle_continue(:ready, state) do
    guild_ids = state.user.id |> Directory.guilds_of() |> Enum.filter(&in_shard?(&1, state.shard))
    app = Directory.application()
    {shard_id, shard_count} = state.shard

    ready = %{
      "v" => 10,
      "user" => Realtime.Gateway.Payloads.current_user(state.user),
      "guilds" => Enum.map(guild_ids, &%{"id" => to_string(&1), "unavailable" => true}),
      "session_id" => state.id,
      "resume_gateway_url" => Application.get_env(:realtime, :gateway_url, "ws://127.0.0.1:4000"),
      "shard" => [shard_id, shard_count],
      "application" => %{"id" => to_string(app.id), "flags" => app.flags},
      "private_channels" => [],
      "relationships" => [],
      "user_settings" => %{},
      "presences" => [],
      "session_type" => "normal",
      "guild_join_requests" => [],
      "auth" => %{}
    }

    state = emit(state, "READY", {:term, ready})
    Metrics.observe(:identify, nil, System.monotonic_time(:microsecond) - state.identified_at)
    Metrics.inc(:identifies)
    state = move(state, if(state.socket, do: "connected", else: "resumable"))
    state = Enum.reduce(guild_ids, state, &join_guild/2)
    # A guild that could not be joined now (restarting, moving, or too busy
    # to answer in time) is tried again, as after it went down.
    for id <- guild_ids, not Map.has_key?(state.guilds, id), do: Process.send_after(self(), {:rejoin, id, @rejoin_attempts}, @rejoin_every)
    {:noreply, state}
  end

  defp in_shard?(guild_id, {id, n}), do: rem(Bitwise.bsr(guild_id, 22), n) == id

  defp join_guild(guild_id, state) do
    with {:ok, pid} <- Placement.lookup(guild_id),
         {:ok, guild_create} <- subscribe(pid, state) do
      Process.monitor(pid)
      state = %{state | guilds: Map.put(state.guilds, guild_id, pid)}
      if Intents.has?(state.intents, :GUILDS), do: emit(state, "GUILD_CREATE", {:term, guild_create}), else: state
    else
      _ -> state
    end
  end

  # A guild can go down at any moment, even between the lookup and the
  # call (its registration outlives it briefly): that is not our crash.
  defp subscribe(pid, state) do
    Guild.subscribe(pid, self(), state.user.id, state.intents, large_threshold: state.large_threshold, encoding: state.encoding)
  catch
    :exit, _ -> {:error, :guild_down}
  end

  @impl true
  def handle_call({:resume, _socket, seq, user_id}, _from, %{user: %{id: user_id}} = state) when seq > state.seq,
    do: {:reply, {:error, :invalid_seq}, state}

  def handle_call({:resume, socket, seq, user_id}, _from, %{user: %{id: user_id}} = state) do
    case ReplayBuffer.since(state.buffer, seq, state.seq) do
      {:ok, missed} ->
        if state.socket_ref, do: Process.demonitor(state.socket_ref, [:flush])
        state = attach(state, socket)
        # One message for the whole replay: a burst of single dispatches
        # would look like a client that does not read.
        if missed != [], do: send(socket, {:gateway_replay, missed})
        {:reply, :ok, emit(state, "RESUMED", {:term, %{}})}

      :error ->
        {:stop, :normal, {:error, :invalid}, state}
    end
  end

  def handle_call({:resume, _socket, _seq, _user_id}, _from, state), do: {:reply, {:error, :invalid}, state}

  def handle_call({:request_members, guild_id, request}, _from, state) do
    case Map.fetch(state.guilds, guild_id) do
      {:ok, pid} -> {:reply, Guild.request_members(pid, self(), request), state}
      :error -> {:reply, {:error, :unknown_guild}, state}
    end
  end

  @impl true
  def handle_cast(:close, state), do: {:stop, :normal, state}

  def handle_cast({:subscribe_lists, guild_id, channels}, state) do
    if pid = state.guilds[guild_id], do: Guild.subscribe_lists(pid, self(), channels)
    {:noreply, state}
  end

  def handle_cast({:update_presence, presence}, state) do
    for {_, pid} <- state.guilds, do: Guild.update_presence(pid, state.user.id, presence)
    {:noreply, state}
  end

  @impl true
  def handle_info({:gateway_dispatch, t, payload}, state), do: {:noreply, emit(state, t, payload)}

  def handle_info({:DOWN, ref, :process, _, _}, %{socket_ref: ref} = state) do
    # The connection is gone: stay resumable for the resume window.
    window = Application.get_env(:realtime, :resume_window, 60_000)
    state = %{state | socket: nil, socket_ref: nil, expiry: Process.send_after(self(), :expire, window)}
    {:noreply, if(state.phase == "connected", do: move(state, "resumable"), else: state)}
  end

  def handle_info({:DOWN, _, :process, pid, _}, state) do
    # A guild went away (crashed, or moved): tell the client it is
    # unavailable, as Discord does during an outage, and rejoin it when it
    # is back.
    case Enum.find(state.guilds, fn {_, p} -> p == pid end) do
      nil ->
        {:noreply, state}

      {guild_id, _} ->
        state = %{state | guilds: Map.delete(state.guilds, guild_id)}
        d = %{"id" => to_string(guild_id), "unavailable" => true}
        state = if Intents.has?(state.intents, :GUILDS), do: emit(state, "GUILD_DELETE", {:term, d}), else: state
        send(self(), {:rejoin, guild_id, @rejoin_attempts})
        {:noreply, state}
    end
  end

  # The guild moved to another node with this session's subscription: the
  # old process's :DOWN no longer matches a guild of ours.
  def handle_info({:guild_moved, guild_id, pid}, state) do
    case state.guilds do
      %{^guild_id => _} ->
        Process.monitor(pid)
        {:noreply, %{state | guilds: Map.put(state.guilds, guild_id, pid)}}

      _ ->
        {:noreply, state}
    end
  end

  def handle_info({:rejoin, _guild_id, 0}, state), do: {:noreply, state}

  def handle_info({:rejoin, guild_id, attempts}, state) do
    state = join_guild(guild_id, state)

    unless Map.has_key?(state.guilds, guild_id),
      do: Process.send_after(self(), {:rejoin, guild_id, attempts - 1}, @rejoin_every)

    {:noreply, state}
  end

  def handle_info(:expire, %{socket: nil} = state), do: {:stop, :normal, state}
  def handle_info(:expire, state), do: {:noreply, state}

  defp attach(state, socket) do
    if state.expiry, do: Process.cancel_timer(state.expiry)
    state = %{state | socket: socket, socket_ref: Process.monitor(socket), expiry: nil}
    if state.phase == "resumable", do: move(state, "connected"), else: state
  end

  # The sessions gauge follows each session through identifying, connected
  # and resumable, until it ends.
  defp move(%{phase: from} = state, to) do
    Metrics.dec(:sessions, from)
    Metrics.inc(:sessions, to)
    %{state | phase: to}
  end

  @impl true
  def terminate(_reason, state), do: Metrics.dec(:sessions, state.phase)

  defp emit(state, t, payload) do
    seq = state.seq + 1
    if state.socket, do: send(state.socket, {:gateway_dispatch, seq, t, payload})
    %{state | seq: seq, buffer: ReplayBuffer.push(state.buffer, seq, t, payload)}
  end
end
