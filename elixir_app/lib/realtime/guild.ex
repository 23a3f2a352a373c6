defmodule Realtime.Guild do
  @moduledoc """
  One process per guild: members, roles, channels and the connected
  sessions, with the bitmaps that decide who receives each event (see
  `Realtime.Guild.State`). Every event of a guild is dispatched from this
  process, so they are ordered per guild. Sessions that connect are
  monitored and disconnected when they exit.

  Find a guild with `Realtime.Guild.Placement.lookup/1`.
  """
  use GenServer

  alias Realtime.Guild.{Placement, State}

  @doc false
  @spec start_link(map) :: GenServer.on_start()
  def start_link(guild), do: GenServer.start_link(__MODULE__, guild, name: Placement.via(guild.id))

  @doc false
  def child_spec(guild), do: %{id: {__MODULE__, guild.id}, start: {__MODULE__, :start_link, [guild]}, restart: :transient}

  @doc """
  Connects `session` (of `user_id`, with `intents`) and returns the
  GUILD_CREATE payload for it.
  """
  @spec subscribe(pid, pid, integer, non_neg_integer, keyword) :: {:ok, map} | {:error, :not_member}
  def subscribe(guild, session, user_id, intents, opts \\ []),
    do: GenServer.call(guild, {:subscribe, session, user_id, intents, opts})

  @doc "Disconnects `session`."
  @spec unsubscribe(pid, pid) :: :ok
  def unsubscribe(guild, session), do: GenServer.cast(guild, {:unsubscribe, session})

  @doc """
  Posts a message and dispatches MESSAGE_CREATE. Errors: `:unknown_channel`,
  `:missing_access` (no VIEW_CHANNEL, or not a member) and
  `:missing_permissions` (no SEND_MESSAGES).
  """
  @spec create_message(pid, integer, integer, String.t(), term) :: {:ok, map} | {:error, atom}
  def create_message(guild, channel_id, author_id, content, nonce \\ nil),
    do: GenServer.call(guild, {:create_message, channel_id, author_id, content, nonce})

  @doc "The channel object of `channel_id`, if `user_id` may view it."
  @spec channel(pid, integer, integer) :: {:ok, map} | {:error, atom}
  def channel(guild, channel_id, user_id), do: query(guild, :channel_for, [channel_id, user_id])

  @doc "A page of channel history as `user_id` may read it (see `Realtime.Guild.State.messages/5`)."
  @spec messages(pid, integer, integer, Realtime.Guild.Messages.page(), pos_integer) :: {:ok, [map]} | {:error, atom}
  def messages(guild, channel_id, user_id, page, limit), do: query(guild, :messages, [channel_id, user_id, page, limit])

  @doc "One message as `user_id` may read it."
  @spec message(pid, integer, integer, integer) :: {:ok, map} | {:error, atom}
  def message(guild, channel_id, message_id, user_id), do: query(guild, :message, [channel_id, message_id, user_id])

  @doc "Adds `user_id`'s reaction (MESSAGE_REACTION_ADD)."
  @spec add_reaction(pid, integer, integer, integer, map) :: :ok | {:error, atom}
  def add_reaction(guild, channel_id, message_id, user_id, emoji),
    do: GenServer.call(guild, {:state, :add_reaction, [channel_id, message_id, user_id, emoji]})

  @doc "Removes `user_id`'s reaction (MESSAGE_REACTION_REMOVE)."
  @spec remove_reaction(pid, integer, integer, integer, map) :: :ok | {:error, atom}
  def remove_reaction(guild, channel_id, message_id, user_id, emoji),
    do: GenServer.call(guild, {:state, :remove_reaction, [channel_id, message_id, user_id, emoji]})

  @doc "The guild object for member `user_id`, with approximate counts if `with_counts`."
  @spec guild(pid, integer, boolean) :: {:ok, map} | {:error, atom}
  def guild(guild, user_id, with_counts), do: query(guild, :guild_for, [user_id, with_counts])

  @doc "The guild's channels, for member `user_id`."
  @spec channels(pid, integer) :: {:ok, [map]} | {:error, atom}
  def channels(guild, user_id), do: query(guild, :channels_for, [user_id])

  @doc "The guild's roles, for member `user_id`."
  @spec roles(pid, integer) :: {:ok, [map]} | {:error, atom}
  def roles(guild, user_id), do: query(guild, :roles_for, [user_id])

  @doc "The member object of `user_id`, for member `actor_id`."
  @spec member(pid, integer, integer) :: {:ok, map} | {:error, atom}
  def member(guild, actor_id, user_id), do: query(guild, :member_for, [actor_id, user_id])

  @doc "Up to `limit` members with ids above `after_id`, in id order, for member `actor_id`."
  @spec members(pid, integer, non_neg_integer, pos_integer) :: {:ok, [map]} | {:error, atom}
  def members(guild, actor_id, after_id, limit), do: query(guild, :members_page, [actor_id, after_id, limit])

  # Reads answered by a State function without changing the state.
  defp query(guild, fun, args), do: GenServer.call(guild, {:query, fun, args})

  @doc "Edits a message of `user_id` (MESSAGE_UPDATE)."
  @spec update_message(pid, integer, integer, integer, String.t()) :: {:ok, map} | {:error, atom}
  def update_message(guild, channel_id, message_id, user_id, content),
    do: GenServer.call(guild, {:state, :update_message, [channel_id, message_id, user_id, content]})

  @doc "Deletes a message (MESSAGE_DELETE): its author, or a member with MANAGE_MESSAGES."
  @spec delete_message(pid, integer, integer, integer) :: :ok | {:error, atom}
  def delete_message(guild, channel_id, message_id, user_id),
    do: GenServer.call(guild, {:state, :delete_message, [channel_id, message_id, user_id]})

  @doc "Sends TYPING_START for `user_id` in `channel_id`."
  @spec typing(pid, integer, integer) :: :ok | {:error, atom}
  def typing(guild, channel_id, user_id), do: GenServer.call(guild, {:typing, channel_id, user_id})

  @doc "Records a member's presence (op 3) and sends PRESENCE_UPDATE."
  @spec update_presence(pid, integer, map) :: :ok
  def update_presence(guild, user_id, presence), do: GenServer.cast(guild, {:update_presence, user_id, presence})

  @doc "Creates a channel (CHANNEL_CREATE); `actor_id` needs MANAGE_CHANNELS."
  @spec create_channel(pid, integer, map) :: {:ok, map} | {:error, atom}
  def create_channel(guild, actor_id, attrs), do: GenServer.call(guild, {:state, :create_channel, [actor_id, attrs]})

  @doc "Changes a channel (CHANNEL_UPDATE); `actor_id` needs MANAGE_CHANNELS."
  @spec update_channel(pid, integer, integer, map) :: {:ok, map} | {:error, atom}
  def update_channel(guild, actor_id, channel_id, attrs),
    do: GenServer.call(guild, {:state, :update_channel, [actor_id, channel_id, attrs]})

  @doc "Deletes a channel (CHANNEL_DELETE); `actor_id` needs MANAGE_CHANNELS."
  @spec delete_channel(pid, integer, integer) :: {:ok, map} | {:error, atom}
  def delete_channel(guild, actor_id, channel_id), do: GenServer.call(guild, {:state, :delete_channel, [actor_id, channel_id]})

  @doc "Creates a role (GUILD_ROLE_CREATE); `actor_id` needs MANAGE_ROLES."
  @spec create_role(pid, integer, map) :: {:ok, map} | {:error, atom}
  def create_role(guild, actor_id, attrs), do: GenServer.call(guild, {:state, :create_role, [actor_id, attrs]})

  @doc "Deletes a role (GUILD_ROLE_DELETE); `actor_id` needs MANAGE_ROLES."
  @spec delete_role(pid, integer, integer) :: :ok | {:error, atom}
  def delete_role(guild, actor_id, role_id), do: GenServer.call(guild, {:state, :delete_role, [actor_id, role_id]})

  @doc "Adds a member (GUILD_MEMBER_ADD)."
  @spec add_member(pid, integer) :: {:ok, map} | {:error, atom}
  def add_member(guild, user_id), do: GenServer.call(guild, {:state, :add_member, [user_id]})

  @doc "Removes a member (GUILD_MEMBER_REMOVE); others need KICK_MEMBERS."
  @spec remove_member(pid, integer, integer) :: :ok | {:error, atom}
  def remove_member(guild, actor_id, user_id), do: GenServer.call(guild, {:state, :remove_member, [actor_id, user_id]})

  @doc "Changes a member's nick or roles (GUILD_MEMBER_UPDATE)."
  @spec update_member(pid, integer, integer, map) :: {:ok, map} | {:error, atom}
  def update_member(guild, actor_id, user_id, attrs), do: GenServer.call(guild, {:state, :update_member, [actor_id, user_id, attrs]})

  @doc "Changes a role's permissions (GUILD_ROLE_UPDATE) and recomputes who sees what."
  @spec update_role_permissions(pid, integer, non_neg_integer) :: :ok | {:error, :unknown_role}
  def update_role_permissions(guild, role_id, permissions),
    do: GenServer.call(guild, {:update_role_permissions, role_id, permissions})

  @doc "Applies lazy member list subscriptions (op 14) of `session`: `%{channel_id => [[start, end]]}`."
  @spec subscribe_lists(pid, pid, map) :: :ok
  def subscribe_lists(guild, session, channels), do: GenServer.cast(guild, {:subscribe_lists, session, channels})

  @doc "Answers a Request Guild Members (op 8) from `session` with GUILD_MEMBERS_CHUNK events."
  @spec request_members(pid, pid, map) :: :ok
  def request_members(guild, session, request), do: GenServer.cast(guild, {:request_members, session, request})

  @impl true
  def init(guild) do
    schedule_passive_flush()
    {:ok, State.new(guild)}
  end

  # PASSIVE_UPDATE_V2 goes out at most this often.
  defp schedule_passive_flush,
    do: Process.send_after(self(), :passive_flush, Application.get_env(:realtime, :passive_update_ms, 1_000))

  @impl true
  def handle_call({:subscribe, session, user_id, intents, opts}, _from, state) do
    case State.subscribe(state, session, user_id, intents, opts) do
      {:ok, guild_create, state} ->
        Process.monitor(session)
        {:reply, {:ok, guild_create}, state}

      error ->
        {:reply, error, state}
    end
  end

  def handle_call({:query, fun, args}, _from, state), do: {:reply, apply(State, fun, [state | args]), state}

  def handle_call({:create_message, channel_id, author_id, content, nonce}, _from, state),
    do: handle_call({:state, :create_message, [channel_id, author_id, content, nonce]}, nil, state)

  def handle_call({:typing, channel_id, user_id}, _from, state), do: {:reply, State.typing(state, channel_id, user_id), state}

  # State functions that return {:ok, state}, {:ok, result, state} or an error.
  def handle_call({:state, fun, args}, _from, state) do
    case apply(State, fun, [state | args]) do
      {:ok, result, state} -> {:reply, {:ok, result}, state}
      {:ok, %State{} = state} -> {:reply, :ok, state}
      error -> {:reply, error, state}
    end
  end

  def handle_call({:update_role_permissions, role_id, perms}, _from, state) do
    case State.update_role_permissions(state, role_id, perms) do
      {:ok, state} -> {:reply, :ok, state}
      error -> {:reply, error, state}
    end
  end

  @impl true
  def handle_cast({:unsubscribe, session}, state), do: {:noreply, State.unsubscribe(state, session)}

  def handle_cast({:subscribe_lists, session, channels}, state),
    do: {:noreply, State.subscribe_lists(state, session, channels)}

  def handle_cast({:update_presence, user_id, presence}, state),
    do: {:noreply, State.update_presence(state, user_id, presence)}

  def handle_cast({:request_members, session, request}, state) do
    State.request_members(state, session, request)
    {:noreply, state}
  end

  @impl true
  def handle_info({:DOWN, _, :process, session, _}, state), do: {:noreply, State.unsubscribe(state, session)}

  def handle_info(:passive_flush, state) do
    schedule_passive_flush()
    {:noreply, State.flush_passive(state)}
  end
end
