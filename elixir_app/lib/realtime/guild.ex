defmodule Realtime.Guild do
  @moduledoc """
  One process per guild: members, roles, channels and the connected
  sessions, with the bitmaps that decide who receives each event (see
  `Realtime.Guild.State`). Every event of a guild is dispatched from this
  process, so they are ordered per guild. Sessions that connect are
  monitored and disconnected when they exit.

  A guild loads itself from `Realtime.Store` when it starts (and restarts).
  Every mutation goes through `commit/3`: its rows are written to the store,
  and only once the store has them is the change applied, its events
  dispatched and the caller answered. A write that fails changes nothing,
  sends nothing, and answers `{:error, {:store, reason}}`. Writes of
  messages and reactions are pipelined (the guild goes on while they
  commit, and they are applied in order); changes to channels, roles and
  members are barriers (see `Realtime.Guild.Change`).

  Pipelined changes are gathered while the guild works through its
  mailbox and sent to the store as one write when it runs dry (or at
  `@max_gathered` changes): one hand-off to the store's thread per burst
  instead of one per message. They then commit, or fail, together.

  A guild takes its lease (`Realtime.Guild.Lease`) before it loads, and
  every write carries the lease's epoch: if another node has taken the
  guild over, the write is refused, the callers get `{:error, {:store,
  {:fenced, _}}}`, and this process stops.

  When its node no longer owns it but the new owner is up, a guild hands
  itself over (`hand_off/2`): it commits what it has pending, the new
  owner loads from the store and takes the connected sessions as they are,
  the sessions switch to it without a GUILD_DELETE, and calls that reach
  the old process meanwhile are passed on in order.

  Find a guild with `Realtime.Guild.Placement.lookup/1`.
  """

  require Realtime.Metrics, as: Metrics
  use GenServer

  alias Realtime.{Directory, Store}
  alias Realtime.Guild.{Change, Channels, Lease, Loader, Members, MessageCache, Messages, Placement, Presence, Roles, Rows, State}

  # How long a barrier waits for the store before failing what is pending.
  @store_timeout 30_000
  # Pipelined changes sent to the store in one write at most.
  @max_gathered 256
  # How long a session waits to be subscribed (see subscribe/5).
  @subscribe_timeout 30_000
  # How long a guild that handed itself over passes on what still reaches it.
  @pass_on_ms 5_000

  @doc false
  @spec start_link(integer) :: GenServer.on_start()
  def start_link(id), do: GenServer.start_link(__MODULE__, id, name: Placement.via(id))

  @doc false
  def child_spec(id), do: %{id: {__MODULE__, id}, start: {__MODULE__, :start_link, [id]}, restart: :transient}

  @doc """
  Connects `session` (of `user_id`, with `intents`) and returns the
  GUILD_CREATE payload for it.
  """
  @spec subscribe(pid, pid, integer, non_neg_integer, keyword) :: {:ok, map} | {:error, :not_member}
  def subscribe(guild, session, user_id, intents, opts \\ []),
    # Generous: after a restart, every session of the guild subscribes at once.
    do: GenServer.call(guild, {:subscribe, session, user_id, intents, opts}, @subscribe_timeout)

  @doc "Asks guild process `guild` to hand itself over to `node`, which owns it now."
  @spec hand_off(pid, node) :: :ok
  def hand_off(guild, node) do
    send(guild, {:hand_off, node})
    :ok
  end

  @doc "Takes over the sessions and presences of a guild that hands itself over (see `State.handover/1`)."
  @spec adopt(pid, State.handover()) :: :ok
  def adopt(guild, handover), do: GenServer.call(guild, {:adopt, handover}, 30_000)

  @doc "Disconnects `session`."
  @spec unsubscribe(pid, pid) :: :ok
  def unsubscribe(guild, session), do: GenServer.cast(guild, {:unsubscribe, session})

  @doc """
  Posts a message and dispatches MESSAGE_CREATE once stored. Errors:
  `:unknown_channel`, `:missing_access` (no VIEW_CHANNEL, or not a member),
  `:missing_permissions` (no SEND_MESSAGES) and `{:store, reason}`.
  """
  @spec create_message(pid, integer, integer, String.t(), term) :: {:ok, map} | {:error, term}
  def create_message(guild, channel_id, author_id, content, nonce \\ nil),
    do: change(guild, Messages, :create, [channel_id, author_id, content, nonce])

  @doc "Edits a message of `user_id` (MESSAGE_UPDATE)."
  @spec update_message(pid, integer, integer, integer, String.t()) :: {:ok, map} | {:error, term}
  def update_message(guild, channel_id, message_id, user_id, content),
    do: change(guild, Messages, :update, [channel_id, message_id, user_id, content])

  @doc "Deletes a message (MESSAGE_DELETE): its author, or a member with MANAGE_MESSAGES."
  @spec delete_message(pid, integer, integer, integer) :: :ok | {:error, term}
  def delete_message(guild, channel_id, message_id, user_id),
    do: change(guild, Messages, :delete, [channel_id, message_id, user_id])

  @doc "Adds `user_id`'s reaction (MESSAGE_REACTION_ADD)."
  @spec add_reaction(pid, integer, integer, integer, map) :: :ok | {:error, term}
  def add_reaction(guild, channel_id, message_id, user_id, emoji),
    do: change(guild, Messages, :add_reaction, [channel_id, message_id, user_id, emoji])

  @doc "Removes `user_id`'s reaction (MESSAGE_REACTION_REMOVE)."
  @spec remove_reaction(pid, integer, integer, integer, map) :: :ok | {:error, term}
  def remove_reaction(guild, channel_id, message_id, user_id, emoji),
    do: change(guild, Messages, :remove_reaction, [channel_id, message_id, user_id, emoji])

  @doc "Sends TYPING_START for `user_id` in `channel_id`."
  @spec typing(pid, integer, integer) :: :ok | {:error, atom}
  def typing(guild, channel_id, user_id), do: change(guild, Messages, :typing, [channel_id, user_id])

  @doc """
  A page of channel history as `user_id` may read it, newest first: from
  the guild's cache when it holds the page, otherwise read from the store
  by the calling process (the guild does not wait on it).
  """
  @spec messages(pid, integer, integer, Store.page(), pos_integer) :: {:ok, [map]} | {:error, term}
  def messages(guild, channel_id, user_id, page, limit) do
    case query(guild, Messages, :page, [channel_id, user_id, page, limit]) do
      {:ok, {:cached, messages}} -> {:ok, messages}
      {:ok, :uncached} -> read_page(channel_id, user_id, page, limit)
      error -> error
    end
  end

  defp read_page(channel_id, user_id, page, limit) do
    case Store.read({:page, channel_id, page, limit}) do
      {:ok, rows} -> {:ok, for(m <- Rows.messages(rows), do: Messages.render(m, user_id))}
      {:error, reason} -> {:error, {:store, reason}}
    end
  end

  @doc "One message as `user_id` may read it."
  @spec message(pid, integer, integer, integer) :: {:ok, map} | {:error, term}
  def message(guild, channel_id, message_id, user_id) do
    case query(guild, Messages, :message, [channel_id, message_id, user_id]) do
      {:ok, {:cached, message}} -> {:ok, message}
      {:ok, :uncached} -> with {:ok, msg} <- Messages.read_message(channel_id, message_id), do: {:ok, Messages.render(msg, user_id)}
      error -> error
    end
  end

  @doc "The channel object of `channel_id`, if `user_id` may view it."
  @spec channel(pid, integer, integer) :: {:ok, map} | {:error, atom}
  def channel(guild, channel_id, user_id), do: query(guild, Channels, :fetch, [channel_id, user_id])

  @doc "The guild's channels, for member `user_id`."
  @spec channels(pid, integer) :: {:ok, [map]} | {:error, atom}
  def channels(guild, user_id), do: query(guild, Channels, :all, [user_id])

  @doc "Creates a channel (CHANNEL_CREATE); `actor_id` needs MANAGE_CHANNELS."
  @spec create_channel(pid, integer, map) :: {:ok, map} | {:error, term}
  def create_channel(guild, actor_id, attrs), do: change(guild, Channels, :create, [actor_id, attrs])

  @doc "Changes a channel (CHANNEL_UPDATE); `actor_id` needs MANAGE_CHANNELS."
  @spec update_channel(pid, integer, integer, map) :: {:ok, map} | {:error, term}
  def update_channel(guild, actor_id, channel_id, attrs), do: change(guild, Channels, :update, [actor_id, channel_id, attrs])

  @doc "Deletes a channel and its messages (CHANNEL_DELETE); `actor_id` needs MANAGE_CHANNELS."
  @spec delete_channel(pid, integer, integer) :: {:ok, map} | {:error, term}
  def delete_channel(guild, actor_id, channel_id), do: change(guild, Channels, :delete, [actor_id, channel_id])

  @doc "The guild's roles, for member `user_id`."
  @spec roles(pid, integer) :: {:ok, [map]} | {:error, atom}
  def roles(guild, user_id), do: query(guild, Roles, :all, [user_id])

  @doc "Creates a role (GUILD_ROLE_CREATE); `actor_id` needs MANAGE_ROLES."
  @spec create_role(pid, integer, map) :: {:ok, map} | {:error, term}
  def create_role(guild, actor_id, attrs), do: change(guild, Roles, :create, [actor_id, attrs])

  @doc "Deletes a role (GUILD_ROLE_DELETE); `actor_id` needs MANAGE_ROLES."
  @spec delete_role(pid, integer, integer) :: :ok | {:error, term}
  def delete_role(guild, actor_id, role_id), do: change(guild, Roles, :delete, [actor_id, role_id])

  @doc "Changes a role's permissions (GUILD_ROLE_UPDATE) and recomputes who sees what."
  @spec update_role_permissions(pid, integer, non_neg_integer) :: :ok | {:error, term}
  def update_role_permissions(guild, role_id, permissions), do: change(guild, Roles, :update_permissions, [role_id, permissions])

  @doc "The guild object for member `user_id`, with approximate counts if `with_counts`."
  @spec guild(pid, integer, boolean) :: {:ok, map} | {:error, atom}
  def guild(guild, user_id, with_counts), do: query(guild, State, :guild_object, [user_id, with_counts])

  @doc "The member object of `user_id`, for member `actor_id`."
  @spec member(pid, integer, integer) :: {:ok, map} | {:error, atom}
  def member(guild, actor_id, user_id), do: query(guild, Members, :fetch, [actor_id, user_id])

  @doc "Up to `limit` members with ids above `after_id`, in id order, for member `actor_id`."
  @spec members(pid, integer, non_neg_integer, pos_integer) :: {:ok, [map]} | {:error, atom}
  def members(guild, actor_id, after_id, limit), do: query(guild, Members, :page, [actor_id, after_id, limit])

  @doc "Adds a member (GUILD_MEMBER_ADD)."
  @spec add_member(pid, integer) :: {:ok, map} | {:error, term}
  def add_member(guild, user_id), do: change(guild, Members, :add, [user_id])

  @doc "Removes a member (GUILD_MEMBER_REMOVE); others need KICK_MEMBERS."
  @spec remove_member(pid, integer, integer) :: :ok | {:error, term}
  def remove_member(guild, actor_id, user_id), do: change(guild, Members, :remove, [actor_id, user_id])

  @doc "Changes a member's nick or roles (GUILD_MEMBER_UPDATE)."
  @spec update_member(pid, integer, integer, map) :: {:ok, map} | {:error, term}
  def update_member(guild, actor_id, user_id, attrs), do: change(guild, Members, :update, [actor_id, user_id, attrs])

  @doc "Records a member's presence (op 3) and sends PRESENCE_UPDATE."
  @spec update_presence(pid, integer, map) :: :ok
  def update_presence(guild, user_id, presence), do: GenServer.cast(guild, {:update_presence, user_id, presence})

  @doc "Applies lazy member list subscriptions (op 14) of `session`: `%{channel_id => [[start, end]]}`."
  @spec subscribe_lists(pid, pid, map) :: :ok
  def subscribe_lists(guild, session, channels), do: GenServer.cast(guild, {:subscribe_lists, session, channels})

  @doc "Answers a Request Guild Members (op 8) from `session` with GUILD_MEMBERS_CHUNK events."
  @spec request_members(pid, pid, map) :: :ok
  def request_members(guild, session, request), do: GenServer.cast(guild, {:request_members, session, request})

  # A rule of `mod` that may change the guild (returns a Change or an error).
  defp change(guild, mod, fun, args), do: GenServer.call(guild, {:change, mod, fun, args})

  # A read answered by a function of `mod` without changing the state.
  defp query(guild, mod, fun, args), do: GenServer.call(guild, {:query, mod, fun, args})

  @impl true
  def init(id) do
    with {:ok, epoch, previous} <- Lease.acquire(Store.handle(), id),
         {:ok, guild} <- Rows.load(Store.handle(), id) do
      if previous, do: Loader.lease_taken(previous, id, epoch)
      Directory.put_guild(guild)
      state = %{State.new(guild) | epoch: epoch}
      :ok = fill_cache(state)
      schedule_passive_flush()
      {:ok, state}
    else
      {:error, reason} -> {:stop, {:store, reason}}
    end
  end

  # The newest messages of each channel, so that edits, reactions and the
  # latest pages are served without the store, and channels know their
  # last message.
  defp fill_cache(state) do
    n = MessageCache.per_channel(state.messages)

    Enum.each(state.guild.channels, fn {cid, _} ->
      {:ok, rows} = Store.read({:page, cid, :latest, n})
      MessageCache.fill(state.messages, cid, Rows.messages(rows))
    end)
  end

  # PASSIVE_UPDATE_V2 goes out at most this often.
  defp schedule_passive_flush,
    do: Process.send_after(self(), :passive_flush, Application.get_env(:realtime, :passive_update_ms, 1_000))

  @impl true
  def handle_call({:subscribe, session, user_id, intents, opts}, _from, state) do
    case State.subscribe(state, session, user_id, intents, opts) do
      {:ok, guild_create, state} ->
        watch(session, state)
        {:reply, {:ok, guild_create}, state}

      error ->
        {:reply, error, state}
    end
  end

  def handle_call({:query, mod, fun, args}, _from, state), do: {:reply, apply(mod, fun, [state | args]), state}

  def handle_call({:adopt, handover}, _from, state) do
    state = State.adopt(state, handover)
    for {session, _, _, _, _} <- handover.sessions, do: watch(session, state)
    {:reply, :ok, state}
  end

  def handle_call({:change, mod, fun, args}, from, state) do
    case apply(mod, fun, [state | args]) do
      %Change{} = change -> {:noreply, commit(state, change, from)}
      error -> {:reply, error, state}
    end
  end

  @impl true
  def handle_cast({:unsubscribe, session}, state), do: {:noreply, State.unsubscribe(state, session)}

  def handle_cast({:subscribe_lists, session, channels}, state),
    do: {:noreply, State.subscribe_lists(state, session, channels)}

  def handle_cast({:update_presence, user_id, presence}, state),
    do: {:noreply, Presence.update(state, user_id, presence)}

  def handle_cast({:request_members, session, request}, state) do
    Members.request(state, session, request)
    {:noreply, state}
  end

  @impl true
  def handle_info({:store_written, tag, result}, state), do: {:noreply, written(state, tag, result)}

  def handle_info(:send_gathered, state), do: {:noreply, send_gathered(state)}

  def handle_info({:hand_off, to}, state) do
    # Everything acknowledged is in the store before the new owner loads,
    # and delivered here before it sends anything.
    state = state |> send_gathered() |> drain()
    Realtime.Fanout.sync()
    handover = State.handover(state)

    case Loader.adopt(to, state.guild.id, handover) do
      {:ok, successor} ->
        for {session, _, _, _, _} <- handover.sessions, do: send(session, {:guild_moved, state.guild.id, successor})
        pass_on(successor, System.monotonic_time(:millisecond) + @pass_on_ms)
        {:stop, {:shutdown, :handed_off}, state}

      {:error, _} ->
        # The sessions see this process go and rejoin the guild wherever it is.
        {:stop, {:shutdown, :handoff_failed}, state}
    end
  end

  # Another process took this guild's lease: stop, and let the loader start
  # the guild again if this node owns it (so that it reloads what the other
  # may have written). Sessions see this process go down and rejoin the
  # guild wherever it then lives.
  def handle_info(:fenced, state), do: lost_lease(state)
  def handle_info({:lease_taken, epoch}, state) when epoch > state.epoch, do: lost_lease(state)
  def handle_info({:lease_taken, _older}, state), do: {:noreply, state}

  def handle_info({:DOWN, _, :process, session, _}, state), do: {:noreply, State.unsubscribe(state, session)}
  def handle_info({:sessions_down, sessions}, state), do: {:noreply, Enum.reduce(sessions, state, &State.unsubscribe(&2, &1))}
  def handle_info({:nodedown, node}, state), do: {:noreply, Enum.reduce(State.sessions_on(state, node), state, &State.unsubscribe(&2, &1))}

  def handle_info(:passive_flush, state) do
    schedule_passive_flush()
    {:noreply, State.flush_passive(state)}
  end

  @doc """
  Persists `change` and applies it once the store has it, answering `from`.
  The one place where a change of a guild becomes acknowledged.
  """
  @spec commit(State.t(), Change.t(), GenServer.from()) :: State.t()
  def commit(state, %Change{writes: []} = change, from) do
    {reply, state} = change.apply.(state)
    GenServer.reply(from, reply)
    state
  end

  def commit(state, %Change{order: :pipelined} = change, from) do
    {count, gathered} = state.gathered
    state = %{state | gathered: {count + 1, [{from, change} | gathered]}}

    cond do
      count + 1 >= @max_gathered -> send_gathered(state)
      # The first of a burst: send them all once the mailbox is worked through.
      count == 0 -> send(self(), :send_gathered) && state
      true -> state
    end
  end

  def commit(state, %Change{order: :barrier} = change, from) do
    state |> send_gathered() |> send_write([{from, change}]) |> drain()
  end

  defp send_gathered(%{gathered: {0, []}} = state), do: state
  defp send_gathered(%{gathered: {_, gathered}} = state), do: send_write(%{state | gathered: {0, []}}, Enum.reverse(gathered))

  # One store write for `entries` (`{from, change}` in order).
  defp send_write(state, entries) do
    ops = [Lease.fence(state.guild.id, state.epoch) | Enum.flat_map(entries, fn {_, change} -> change.writes end)]
    tag = Store.write_async(state.guild.id, ops)
    %{state | pending: Map.put(state.pending, tag, {System.monotonic_time(:microsecond), entries})}
  end

  # Applies or fails the changes of one answered write. Writes of one guild
  # are answered in the order they were made, so changes are applied in
  # that order.
  defp written(state, tag, result) do
    case Map.pop(state.pending, tag) do
      {nil, _} -> state
      {{sent_at, entries}, pending} ->
        Metrics.observe(:store_write, nil, System.monotonic_time(:microsecond) - sent_at)
        if result != :ok, do: Metrics.inc(:store_errors, "write")
        Enum.reduce(entries, %{state | pending: pending}, &finish(&2, &1, result))
    end
  end

  defp finish(state, {from, change}, :ok) do
    {reply, state} = change.apply.(state)
    GenServer.reply(from, reply)
    state
  end

  defp finish(state, {from, _change}, {:error, reason}) do
    GenServer.reply(from, {:error, {:store, reason}})
    if match?({:fenced, _}, reason), do: send(self(), :fenced)
    state
  end

  # Local sessions are monitored; remote ones through the watcher on their
  # node, with one node monitor per node (Realtime.Cluster.Watcher).
  defp watch(session, _state) when node(session) == node(), do: Process.monitor(session)

  defp watch(session, state) do
    if State.sessions_on(state, node(session)) == [session], do: :erlang.monitor_node(node(session), true)
    Realtime.Cluster.Watcher.watch(session, self())
  end

  defp lost_lease(state) do
    Loader.restart_if_owned(state.guild.id, self())
    {:stop, {:shutdown, :lease_lost}, state}
  end

  # Calls and casts that still reach this process (from callers that looked
  # it up before the move) go to the successor, in the order they came.
  defp pass_on(successor, until) do
    receive do
      {:"$gen_call", _from, _request} = call -> send(successor, call) && pass_on(successor, until)
      {:"$gen_cast", _request} = cast -> send(successor, cast) && pass_on(successor, until)
      _other -> pass_on(successor, until)
    after
      max(until - System.monotonic_time(:millisecond), 0) -> :ok
    end
  end

  # Waits for every pending write (a barrier's last), applying each.
  defp drain(%{pending: pending} = state) when map_size(pending) == 0, do: state

  defp drain(state) do
    pending = state.pending

    receive do
      {:store_written, tag, result} when is_map_key(pending, tag) -> drain(written(state, tag, result))
    after
      @store_timeout ->
        Enum.reduce(Map.keys(state.pending), state, &written(&2, &1, {:error, {:timeout, "no answer from the store"}}))
    end
  end
end
