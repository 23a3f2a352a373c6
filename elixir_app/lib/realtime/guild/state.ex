defmodule Realtime.Guild.State do
  @moduledoc """
  A guild's state and the rules that change it, as functions the guild
  process calls (and tests can call without a process).

  Connected sessions get dense slots. Bitmaps over slots say who may see
  what: one per intent that filters events, and one view per channel
  (members with VIEW_CHANNEL there). The recipients of a message in channel
  C are then `view[C] ∩ intent[GUILD_MESSAGES] ∩ (active ∪ mentioned)`: a
  few intersections, not a permission check per member. Views are
  recomputed when roles or overwrites change, so a member who loses
  VIEW_CHANNEL stops receiving the channel's events at once.

  In very large guilds sessions start passive (not in `active`): they get
  only messages that mention them, and PASSIVE_UPDATE_V2 deltas, until they
  subscribe to the member list (`Realtime.Guild.LazyLists`).
  """

  alias Realtime.{Bitmap, Directory, ETF, Fanout, JSON, Snowflake}
  alias Realtime.Gateway.{Intents, Payloads}
  alias Realtime.Guild.{LazyLists, Permissions}

  @intent_views [:GUILDS, :GUILD_MEMBERS, :GUILD_PRESENCES, :GUILD_MESSAGES, :MESSAGE_CONTENT, :GUILD_MESSAGE_TYPING]

  # Messages kept per guild, for MESSAGE_UPDATE and MESSAGE_DELETE.
  @kept_messages 5_000
  # Discord's rule: in guilds above this many members, sessions are passive
  # until they subscribe to the member list.
  @passive_members 75_000

  defstruct [
    :guild,
    :table,
    :connected,
    intents: %{},
    views: %{},
    slots: %{},
    by_session: %{},
    free: [],
    next_slot: 0,
    messages: %{},
    message_order: :queue.new(),
    presences: %{},
    lazy: %Realtime.Guild.LazyLists{},
    # Slots that get the firehose; in passive guilds, only after subscribing.
    active: nil,
    # What passive sessions are told at the next PASSIVE_UPDATE_V2.
    passive_channels: %{},
    passive_members: MapSet.new()
  ]

  @type t :: %__MODULE__{}

  @doc "A state for the guild data `guild` (see `Realtime.Seed`)."
  @spec new(map) :: t
  def new(guild) do
    %__MODULE__{
      guild: guild,
      table: Fanout.new(),
      connected: Bitmap.new(),
      active: Bitmap.new(),
      intents: Map.new(@intent_views, &{&1, Bitmap.new()}),
      views: Map.new(guild.channels, fn {id, _} -> {id, Bitmap.new()} end)
    }
  end

  @doc """
  Connects a session of `user_id` with `intents`. Returns the GUILD_CREATE
  payload for it, or `{:error, :not_member}`.
  """
  @spec subscribe(t, pid, integer, non_neg_integer, keyword) :: {:ok, map, t} | {:error, :not_member}
  def subscribe(state, session, user_id, intents, opts \\ []) do
    case Map.fetch(state.guild.members, user_id) do
      :error ->
        {:error, :not_member}

      {:ok, member} ->
        state = if Map.has_key?(state.by_session, session), do: unsubscribe(state, session), else: state
        {slot, state} = take_slot(state)
        Fanout.put(state.table, slot, session)
        Bitmap.put(state.connected, slot)
        unless passive_guild?(state), do: Bitmap.put(state.active, slot)
        for {name, bm} <- state.intents, Intents.has?(intents, name), do: Bitmap.put(bm, slot)
        put_views(state, slot, member)

        state = %{
          state
          | slots: Map.put(state.slots, slot, %{session: session, user_id: user_id, intents: intents}),
            by_session: Map.put(state.by_session, session, slot)
        }

        {:ok, guild_create(state, member, intents, opts), LazyLists.member_changed(state, user_id)}
    end
  end

  @doc """
  Whether a member is online: their last presence says so, or, without
  one, they have a connected session.
  """
  @spec online?(t, integer) :: boolean
  def online?(state, user_id) do
    case state.presences[user_id] do
      %{"status" => status} -> status in ["online", "idle", "dnd"]
      nil -> Enum.any?(state.slots, fn {_, s} -> s.user_id == user_id end)
    end
  end

  @doc """
  Applies a session's lazy member list subscriptions (op 14 / 37). A
  session that subscribes becomes active.
  """
  @spec subscribe_lists(t, pid, map) :: t
  def subscribe_lists(state, session, channels) do
    case state.by_session[session] do
      nil ->
        state

      slot ->
        Bitmap.put(state.active, slot)
        LazyLists.subscribe(state, session, channels)
    end
  end

  @doc "Whether sessions start passive here: more members than Discord's 75,000 (configurable)."
  @spec passive_guild?(t) :: boolean
  def passive_guild?(state),
    do: map_size(state.guild.members) > Application.get_env(:realtime, :passive_members, @passive_members)

  @doc """
  Sends PASSIVE_UPDATE_V2 to passive sessions with what changed since the
  last one (channels' last message ids, members whose presence changed),
  and forgets it. The guild process calls this on a timer.
  """
  @spec flush_passive(t) :: t
  def flush_passive(%{passive_channels: c, passive_members: m} = state) when map_size(c) == 0 and m == %MapSet{}, do: state

  def flush_passive(state) do
    passive = Bitmap.difference(state.connected, state.active)

    d = %{
      "guild_id" => to_string(state.guild.id),
      "updated_channels" =>
        for({id, last} <- state.passive_channels, do: %{"id" => to_string(id), "last_message_id" => to_string(last), "last_pin_timestamp" => nil}),
      "updated_members" =>
        for(uid <- state.passive_members, m = state.guild.members[uid], do: Payloads.member(m, user!(uid))),
      "updated_voice_states" => [],
      "removed_voice_states" => []
    }

    dispatch(state, passive, "PASSIVE_UPDATE_V2", d)
    %{state | passive_channels: %{}, passive_members: MapSet.new()}
  end

  @doc "Disconnects a session; a no-op for one that is not connected."
  @spec unsubscribe(t, pid) :: t
  def unsubscribe(state, session) do
    case Map.pop(state.by_session, session) do
      {nil, _} ->
        state

      {slot, by_session} ->
        Fanout.delete(state.table, slot)
        for bm <- [state.connected, state.active | Map.values(state.intents) ++ Map.values(state.views)], do: Bitmap.delete(bm, slot)
        %{user_id: user_id} = state.slots[slot]
        state = %{state | by_session: by_session, slots: Map.delete(state.slots, slot), free: [slot | state.free]}
        state |> LazyLists.unsubscribe(session) |> LazyLists.member_changed(user_id)
    end
  end

  defp put_guild(state, key, id, value), do: %{state | guild: Map.update!(state.guild, key, &Map.put(&1, id, value))}
  defp delete_guild(state, key, id), do: %{state | guild: Map.update!(state.guild, key, &Map.delete(&1, id))}

  defp take_slot(%{free: [slot | rest]} = state), do: {slot, %{state | free: rest}}
  defp take_slot(%{next_slot: n} = state), do: {n, %{state | next_slot: n + 1}}

  defp put_views(state, slot, member) do
    base = Permissions.base(state.guild, member)
    view = Permissions.bit(:view_channel)

    for {id, channel} <- state.guild.channels do
      bm = Map.fetch!(state.views, id)
      perms = Permissions.apply_overwrites(base, state.guild, member, channel)
      if Permissions.has?(perms, view), do: Bitmap.put(bm, slot), else: Bitmap.delete(bm, slot)
    end
  end

  @doc "Recomputes every connected member's channel views."
  @spec recompute_views(t) :: t
  def recompute_views(state) do
    for {slot, %{user_id: uid}} <- state.slots, do: put_views(state, slot, Map.fetch!(state.guild.members, uid))
    state
  end

  defp guild_create(state, member, intents, opts) do
    g = state.guild
    large = map_size(g.members) > Keyword.get(opts, :large_threshold, 50)

    # A large guild sends only its online members (and the session's own);
    # the rest come by Request Guild Members (op 8).
    members =
      cond do
        not Intents.has?(intents, :GUILD_MEMBERS) -> [member]
        large -> [member | for({uid, m} <- g.members, uid != member.user_id, online?(state, uid), do: m)]
        true -> Map.values(g.members)
      end

    presences = if Intents.has?(intents, :GUILD_PRESENCES), do: Map.values(state.presences), else: []
    Payloads.guild_create(g, members, &user!/1, joined_at: member.joined_at, large: large, presences: presences)
  end

  defp user!(id) do
    {:ok, u} = Directory.user(id)
    u
  end

  @doc """
  Creates a message from `author_id` in `channel_id` and dispatches
  MESSAGE_CREATE to every session allowed to see it. Content goes only to
  sessions with MESSAGE_CONTENT (and to the author's own sessions).
  """
  @spec create_message(t, integer, integer, String.t(), term) :: {:ok, map, t} | {:error, atom}
  def create_message(state, channel_id, author_id, content, nonce \\ nil) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         {:ok, member} <- fetch_member(state, author_id),
         perms = Permissions.in_channel(state.guild, member, channel),
         :ok <- check_permission(perms, :view_channel, :missing_access),
         :ok <- check_permission(perms, :send_messages, :missing_permissions) do
      msg = %{
        id: Snowflake.next(),
        channel_id: channel_id,
        guild_id: state.guild.id,
        author: user!(author_id),
        member: member,
        content: content,
        nonce: nonce
      }

      payload = Payloads.message(msg)
      readers = Bitmap.intersection(state.views[channel_id], state.intents[:GUILD_MESSAGES])
      # Passive sessions get only the messages that mention them.
      Bitmap.intersection_in_place(readers, Bitmap.union(state.active, mentioned(state, content)))
      full = Bitmap.intersection(readers, state.intents[:MESSAGE_CONTENT])
      for {slot, %{user_id: ^author_id}} <- state.slots, Bitmap.member?(readers, slot), do: Bitmap.put(full, slot)
      stripped = Bitmap.difference(readers, full)
      dispatch(state, full, "MESSAGE_CREATE", payload)
      dispatch(state, stripped, "MESSAGE_CREATE", %{payload | "content" => ""})
      state = %{state | passive_channels: Map.put(state.passive_channels, channel_id, msg.id)}
      {:ok, payload, keep_message(state, msg)}
    end
  end

  # Slots of sessions a message mentions: @everyone or @here, their user
  # (<@id>) or one of their roles (<@&id>).
  defp mentioned(state, content) do
    if String.contains?(content, ["@everyone", "@here"]) do
      state.connected
    else
      users = for [_, id] <- Regex.scan(~r/<@!?(\d+)>/, content), into: MapSet.new(), do: String.to_integer(id)
      roles = for [_, id] <- Regex.scan(~r/<@&(\d+)>/, content), into: MapSet.new(), do: String.to_integer(id)

      Bitmap.from_list(
        for {slot, %{user_id: uid}} <- state.slots,
            MapSet.member?(users, uid) or Enum.any?(state.guild.members[uid].roles, &MapSet.member?(roles, &1)),
            do: slot
      )
    end
  end

  defp keep_message(state, msg) do
    order = :queue.in(msg.id, state.message_order)
    state = %{state | messages: Map.put(state.messages, msg.id, msg), message_order: order}

    if map_size(state.messages) > @kept_messages do
      {{:value, oldest}, order} = :queue.out(state.message_order)
      %{state | messages: Map.delete(state.messages, oldest), message_order: order}
    else
      state
    end
  end

  @doc "Edits a message of `user_id`'s (MESSAGE_UPDATE)."
  @spec update_message(t, integer, integer, integer, String.t()) :: {:ok, map, t} | {:error, atom}
  def update_message(state, channel_id, message_id, user_id, content) do
    with {:ok, msg} <- fetch_message(state, channel_id, message_id),
         :ok <- if(msg.author.id == user_id, do: :ok, else: {:error, :cannot_edit}) do
      msg = msg |> Map.put(:content, content) |> Map.put(:edited, DateTime.to_iso8601(DateTime.utc_now()))
      payload = Payloads.message(msg)
      readers = Bitmap.intersection(state.views[channel_id], state.intents[:GUILD_MESSAGES])
      # Passive sessions get only the messages that mention them.
      Bitmap.intersection_in_place(readers, Bitmap.union(state.active, mentioned(state, content)))
      full = Bitmap.intersection(readers, state.intents[:MESSAGE_CONTENT])
      dispatch(state, full, "MESSAGE_UPDATE", payload)
      dispatch(state, Bitmap.difference(readers, full), "MESSAGE_UPDATE", %{payload | "content" => ""})
      {:ok, payload, %{state | messages: Map.put(state.messages, message_id, msg)}}
    end
  end

  @doc "Deletes a message: its author, or a member with MANAGE_MESSAGES (MESSAGE_DELETE)."
  @spec delete_message(t, integer, integer, integer) :: {:ok, t} | {:error, atom}
  def delete_message(state, channel_id, message_id, user_id) do
    with {:ok, msg} <- fetch_message(state, channel_id, message_id),
         {:ok, member} <- fetch_member(state, user_id),
         :ok <- author_or(msg, user_id, Permissions.in_channel(state.guild, member, state.guild.channels[channel_id]), :manage_messages) do
      d = %{"id" => to_string(message_id), "channel_id" => to_string(channel_id), "guild_id" => to_string(state.guild.id)}
      dispatch(state, Bitmap.intersection(state.views[channel_id], state.intents[:GUILD_MESSAGES]), "MESSAGE_DELETE", d)
      {:ok, %{state | messages: Map.delete(state.messages, message_id)}}
    end
  end

  defp author_or(%{author: %{id: id}}, id, _perms, _perm), do: :ok
  defp author_or(_msg, _user, perms, perm), do: check_permission(perms, perm, :missing_permissions)

  defp fetch_message(state, channel_id, message_id) do
    case Map.fetch(state.messages, message_id) do
      {:ok, %{channel_id: ^channel_id} = msg} -> {:ok, msg}
      _ -> {:error, :unknown_message}
    end
  end

  @doc "TYPING_START in `channel_id`, to members who see it and asked for typing events."
  @spec typing(t, integer, integer) :: :ok | {:error, atom}
  def typing(state, channel_id, user_id) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         {:ok, member} <- fetch_member(state, user_id),
         :ok <- check_permission(Permissions.in_channel(state.guild, member, channel), :send_messages, :missing_permissions) do
      d = %{
        "channel_id" => to_string(channel_id),
        "guild_id" => to_string(state.guild.id),
        "user_id" => to_string(user_id),
        "timestamp" => System.os_time(:second),
        "member" => Payloads.member(member, user!(user_id))
      }

      dispatch(state, Bitmap.intersection(state.views[channel_id], state.intents[:GUILD_MESSAGE_TYPING]), "TYPING_START", d)
      :ok
    end
  end

  @doc "A member's new presence (op 3), as PRESENCE_UPDATE to sessions with GUILD_PRESENCES."
  @spec update_presence(t, integer, map) :: t
  def update_presence(state, user_id, presence) do
    if Map.has_key?(state.guild.members, user_id) do
      d = Map.merge(presence, %{"user" => %{"id" => to_string(user_id)}, "guild_id" => to_string(state.guild.id)})
      dispatch(state, Bitmap.intersection(state.intents[:GUILD_PRESENCES], state.active), "PRESENCE_UPDATE", d)
      state = %{state | presences: Map.put(state.presences, user_id, d), passive_members: MapSet.put(state.passive_members, user_id)}
      LazyLists.member_changed(state, user_id)
    else
      state
    end
  end

  @doc "Creates a channel (CHANNEL_CREATE); needs MANAGE_CHANNELS."
  @spec create_channel(t, integer, map) :: {:ok, map, t} | {:error, atom}
  def create_channel(state, user_id, attrs) do
    with :ok <- guild_permission(state, user_id, :manage_channels) do
      id = Snowflake.next()

      channel = %{
        id: id,
        type: Map.get(attrs, :type, 0),
        name: attrs.name,
        position: map_size(state.guild.channels),
        parent_id: attrs[:parent_id],
        topic: attrs[:topic],
        permission_overwrites: Map.get(attrs, :permission_overwrites, [])
      }

      state = put_guild(state, :channels, id, channel)
      state = %{state | views: Map.put(state.views, id, Bitmap.new())}
      Directory.put_channel(id, state.guild.id)
      recompute_views(state)
      payload = Payloads.channel(channel, state.guild.id)
      dispatch(state, Bitmap.intersection(state.views[id], state.intents[:GUILDS]), "CHANNEL_CREATE", payload)
      {:ok, payload, state}
    end
  end

  @doc """
  Changes a channel's name, topic or overwrites (CHANNEL_UPDATE, to those
  who saw it before or see it now); needs MANAGE_CHANNELS.
  """
  @spec update_channel(t, integer, integer, map) :: {:ok, map, t} | {:error, atom}
  def update_channel(state, user_id, channel_id, attrs) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         :ok <- guild_permission(state, user_id, :manage_channels) do
      before = Bitmap.copy(state.views[channel_id])
      channel = Map.merge(channel, Map.take(attrs, [:name, :topic, :permission_overwrites]))
      state = put_guild(state, :channels, channel_id, channel)
      recompute_views(state)
      payload = Payloads.channel(channel, state.guild.id)
      dispatch(state, Bitmap.intersection(Bitmap.union(before, state.views[channel_id]), state.intents[:GUILDS]), "CHANNEL_UPDATE", payload)
      {:ok, payload, LazyLists.rebuild(state)}
    end
  end

  @doc "Deletes a channel (CHANNEL_DELETE); needs MANAGE_CHANNELS."
  @spec delete_channel(t, integer, integer) :: {:ok, map, t} | {:error, atom}
  def delete_channel(state, user_id, channel_id) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         :ok <- guild_permission(state, user_id, :manage_channels) do
      payload = Payloads.channel(channel, state.guild.id)
      dispatch(state, Bitmap.intersection(state.views[channel_id], state.intents[:GUILDS]), "CHANNEL_DELETE", payload)
      state = delete_guild(state, :channels, channel_id)
      {:ok, payload, %{state | views: Map.delete(state.views, channel_id)}}
    end
  end

  @doc "Creates a role (GUILD_ROLE_CREATE); needs MANAGE_ROLES."
  @spec create_role(t, integer, map) :: {:ok, map, t} | {:error, atom}
  def create_role(state, user_id, attrs) do
    with :ok <- guild_permission(state, user_id, :manage_roles) do
      role = %{
        id: Snowflake.next(),
        name: Map.get(attrs, :name, "new role"),
        permissions: Map.get(attrs, :permissions, 0),
        position: map_size(state.guild.roles),
        hoist: Map.get(attrs, :hoist, false),
        color: Map.get(attrs, :color, 0)
      }

      state = put_guild(state, :roles, role.id, role)
      payload = Payloads.role(role)
      dispatch(state, state.intents[:GUILDS], "GUILD_ROLE_CREATE", %{"guild_id" => to_string(state.guild.id), "role" => payload})
      {:ok, payload, state}
    end
  end

  @doc "Deletes a role (GUILD_ROLE_DELETE) and recomputes views; needs MANAGE_ROLES."
  @spec delete_role(t, integer, integer) :: {:ok, t} | {:error, atom}
  def delete_role(state, user_id, role_id) do
    with :ok <- guild_permission(state, user_id, :manage_roles),
         true <- (role_id != state.guild.id and Map.has_key?(state.guild.roles, role_id)) || {:error, :unknown_role} do
      state = delete_guild(state, :roles, role_id)
      members = Map.new(state.guild.members, fn {id, m} -> {id, %{m | roles: List.delete(m.roles, role_id)}} end)
      state = recompute_views(%{state | guild: %{state.guild | members: members}})
      d = %{"guild_id" => to_string(state.guild.id), "role_id" => to_string(role_id)}
      dispatch(state, state.intents[:GUILDS], "GUILD_ROLE_DELETE", d)
      {:ok, LazyLists.rebuild(state)}
    end
  end

  @doc "Adds a member (GUILD_MEMBER_ADD, to sessions with GUILD_MEMBERS)."
  @spec add_member(t, integer) :: {:ok, map, t} | {:error, atom}
  def add_member(state, user_id) do
    case {Directory.user(user_id), Map.has_key?(state.guild.members, user_id)} do
      {:error, _} ->
        {:error, :unknown_user}

      {_, true} ->
        {:error, :already_member}

      {{:ok, user}, false} ->
        member = %{user_id: user_id, roles: [], nick: nil, joined_at: DateTime.utc_now() |> DateTime.to_iso8601()}
        state = put_guild(state, :members, user_id, member)
        payload = Map.put(Payloads.member(member, user), "guild_id", to_string(state.guild.id))
        dispatch(state, state.intents[:GUILD_MEMBERS], "GUILD_MEMBER_ADD", payload)
        {:ok, payload, LazyLists.member_changed(state, user_id)}
    end
  end

  @doc """
  Removes a member (GUILD_MEMBER_REMOVE), disconnecting their sessions from
  this guild; needs KICK_MEMBERS unless they leave themselves.
  """
  @spec remove_member(t, integer, integer) :: {:ok, t} | {:error, atom}
  def remove_member(state, actor_id, user_id) do
    with {:ok, _member} <- fetch_target(state, user_id),
         :ok <- if(actor_id == user_id, do: :ok, else: guild_permission(state, actor_id, :kick_members)) do
      d = %{"guild_id" => to_string(state.guild.id), "user" => Payloads.user(user!(user_id))}
      dispatch(state, state.intents[:GUILD_MEMBERS], "GUILD_MEMBER_REMOVE", d)
      state = delete_guild(state, :members, user_id)
      leaving = for {pid, slot} <- state.by_session, state.slots[slot].user_id == user_id, do: pid
      state = Enum.reduce(leaving, state, &unsubscribe(&2, &1))
      {:ok, LazyLists.member_changed(state, user_id)}
    end
  end

  @doc """
  Changes a member's nick or roles (GUILD_MEMBER_UPDATE) and their views;
  needs MANAGE_NICKNAMES for a nick and MANAGE_ROLES for roles.
  """
  @spec update_member(t, integer, integer, map) :: {:ok, map, t} | {:error, atom}
  def update_member(state, actor_id, user_id, attrs) do
    with {:ok, member} <- fetch_target(state, user_id),
         :ok <- if(Map.has_key?(attrs, :nick), do: guild_permission(state, actor_id, :manage_nicknames), else: :ok),
         :ok <- if(Map.has_key?(attrs, :roles), do: guild_permission(state, actor_id, :manage_roles), else: :ok),
         :ok <- known_roles(state, Map.get(attrs, :roles, [])) do
      member = Map.merge(member, Map.take(attrs, [:nick, :roles]))
      state = put_guild(state, :members, user_id, member)
      for {slot, %{user_id: ^user_id}} <- state.slots, do: put_views(state, slot, member)
      payload = Map.put(Payloads.member(member, user!(user_id)), "guild_id", to_string(state.guild.id))
      dispatch(state, state.intents[:GUILD_MEMBERS], "GUILD_MEMBER_UPDATE", payload)
      {:ok, payload, LazyLists.member_changed(state, user_id)}
    end
  end

  # The member an action is about, as opposed to the one acting.
  defp fetch_target(state, user_id) do
    case Map.fetch(state.guild.members, user_id) do
      {:ok, m} -> {:ok, m}
      :error -> {:error, :unknown_member}
    end
  end

  defp known_roles(state, roles) do
    if Enum.all?(roles, &Map.has_key?(state.guild.roles, &1)), do: :ok, else: {:error, :unknown_role}
  end

  defp guild_permission(state, user_id, perm) do
    with {:ok, member} <- fetch_member(state, user_id) do
      check_permission(Permissions.base(state.guild, member), perm, :missing_permissions)
    end
  end

  @doc "The channel object of `channel_id`, if `user_id` may view it."
  @spec channel_for(t, integer, integer) :: {:ok, map} | {:error, atom}
  def channel_for(state, channel_id, user_id) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         {:ok, member} <- fetch_member(state, user_id),
         :ok <- check_permission(Permissions.in_channel(state.guild, member, channel), :view_channel, :missing_access) do
      {:ok, Payloads.channel(channel, state.guild.id)}
    end
  end

  defp fetch_channel(state, id) do
    case Map.fetch(state.guild.channels, id) do
      {:ok, c} -> {:ok, c}
      :error -> {:error, :unknown_channel}
    end
  end

  defp fetch_member(state, id) do
    case Map.fetch(state.guild.members, id) do
      {:ok, m} -> {:ok, m}
      :error -> {:error, :missing_access}
    end
  end

  defp check_permission(perms, name, error), do: if(Permissions.has?(perms, Permissions.bit(name)), do: :ok, else: error_tuple(error))
  defp error_tuple(reason), do: {:error, reason}

  @doc """
  Changes a role's permissions, dispatches GUILD_ROLE_UPDATE to sessions
  with the GUILDS intent, and recomputes views.
  """
  @spec update_role_permissions(t, integer, non_neg_integer) :: {:ok, t} | {:error, :unknown_role}
  def update_role_permissions(state, role_id, permissions) do
    case Map.fetch(state.guild.roles, role_id) do
      :error ->
        {:error, :unknown_role}

      {:ok, role} ->
        role = %{role | permissions: permissions}
        state = put_guild(state, :roles, role_id, role)
        recompute_views(state)
        dispatch(state, state.intents[:GUILDS], "GUILD_ROLE_UPDATE", %{"guild_id" => to_string(state.guild.id), "role" => Payloads.role(role)})
        {:ok, LazyLists.rebuild(state)}
    end
  end

  @doc """
  Sends GUILD_MEMBERS_CHUNK events to one session: members whose username or
  nick starts with `query` (up to `limit`, 0 meaning all), or the members
  with `user_ids`, in chunks of at most 1000.
  """
  @spec request_members(t, pid, map) :: :ok
  def request_members(state, session, req) do
    {found, not_found} = select_members(state.guild.members, req)
    chunks = Enum.chunk_every(found, 1000)
    chunks = if chunks == [], do: [[]], else: chunks
    count = length(chunks)
    slot_bm = Bitmap.from_list(List.wrap(state.by_session[session]))

    chunks
    |> Enum.with_index()
    |> Enum.each(fn {members, i} ->
      d = %{
        "guild_id" => to_string(state.guild.id),
        "members" => Enum.map(members, &Payloads.member(&1, user!(&1.user_id))),
        "chunk_index" => i,
        "chunk_count" => count,
        "not_found" => if(i == 0, do: Enum.map(not_found, &to_string/1), else: []),
        "nonce" => req[:nonce]
      }

      dispatch(state, slot_bm, "GUILD_MEMBERS_CHUNK", d)
    end)
  end

  defp select_members(members, %{user_ids: ids}) when is_list(ids) do
    Enum.reduce(ids, {[], []}, fn id, {found, missing} ->
      case Map.fetch(members, id) do
        {:ok, m} -> {[m | found], missing}
        :error -> {found, [id | missing]}
      end
    end)
    |> then(fn {f, m} -> {Enum.reverse(f), Enum.reverse(m)} end)
  end

  defp select_members(members, %{query: query, limit: limit}) do
    matching =
      members
      |> Map.values()
      |> Enum.filter(fn m ->
        u = user!(m.user_id)
        String.starts_with?(String.downcase(u.username), String.downcase(query)) or
          (is_binary(m.nick) and String.starts_with?(String.downcase(m.nick), String.downcase(query)))
      end)
      |> Enum.sort_by(& &1.user_id)

    {if(limit > 0, do: Enum.take(matching, limit), else: matching), []}
  end

  @doc "Encodes `d` once per encoding and delivers it to the sessions in `recipients`."
  @spec dispatch(t, Bitmap.t(), String.t(), map) :: non_neg_integer
  def dispatch(state, recipients, t, d) do
    if Bitmap.size(recipients) == 0 do
      0
    else
      encoded = %{json: JSON.encode(d), etf: ETF.encode(d)}
      Fanout.send(state.table, recipients, {:gateway_dispatch, t, {:encoded, encoded}})
    end
  end
end
