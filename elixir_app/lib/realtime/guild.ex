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
  def channel(guild, channel_id, user_id), do: GenServer.call(guild, {:channel_for, channel_id, user_id})

  @doc "Changes a role's permissions (GUILD_ROLE_UPDATE) and recomputes who sees what."
  @spec update_role_permissions(pid, integer, non_neg_integer) :: :ok | {:error, :unknown_role}
  def update_role_permissions(guild, role_id, permissions),
    do: GenServer.call(guild, {:update_role_permissions, role_id, permissions})

  @doc "Answers a Request Guild Members (op 8) from `session` with GUILD_MEMBERS_CHUNK events."
  @spec request_members(pid, pid, map) :: :ok
  def request_members(guild, session, request), do: GenServer.cast(guild, {:request_members, session, request})

  @impl true
  def init(guild), do: {:ok, State.new(guild)}

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

  def handle_call({:channel_for, channel_id, user_id}, _from, state),
    do: {:reply, State.channel_for(state, channel_id, user_id), state}

  def handle_call({:create_message, channel_id, author_id, content, nonce}, _from, state),
    do: {:reply, State.create_message(state, channel_id, author_id, content, nonce), state}

  def handle_call({:update_role_permissions, role_id, perms}, _from, state) do
    case State.update_role_permissions(state, role_id, perms) do
      {:ok, state} -> {:reply, :ok, state}
      error -> {:reply, error, state}
    end
  end

  @impl true
  def handle_cast({:unsubscribe, session}, state), do: {:noreply, State.unsubscribe(state, session)}

  def handle_cast({:request_members, session, request}, state) do
    State.request_members(state, session, request)
    {:noreply, state}
  end

  @impl true
  def handle_info({:DOWN, _, :process, session, _}, state), do: {:noreply, State.unsubscribe(state, session)}
end
