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
  alias Realtime.Guild.{LazyLists, Mentions, Messages, Permissions}

  @intent_views [:GUILDS, :GUILD_MEMBERS, :GUILD_PRESENCES, :GUILD_MESSAGES, :MESSAGE_CONTENT, :GUILD_MESSAGE_TYPING, :GUILD_MESSAGE_REACTIONS]

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
    # Recent history per channel (Realtime.Guild.Messages).
    messages: nil,
    # Member ids in order, for paging members (an ETS ordered_set).
    member_ids: nil,
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
    member_ids = :ets.new(:member_ids, [:ordered_set, :protected])
    :ets.insert(member_ids, for(id <- Map.keys(guild.members), do: {id}))

    %__MODULE__{
      guild: guild,
      messages: Messages.new(),
      member_ids: member_ids,
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
    Payloads.guild_create(g, members, channels(state), &user!/1, joined_at: member.joined_at, large: large, presences: presences)
  end

  # Every channel of the guild, rendered, in position order. Bots see all
  # channels, as on Discord; permissions decide what they can do in them.
  defp channels(state) do
    state.guild.channels |> Map.values() |> Enum.sort_by(& &1.position) |> Enum.map(&render_channel(state, &1))
  end

  defp render_channel(state, channel),
    do: Payloads.channel(channel, state.guild.id, Messages.last_id(state.messages, channel.id))

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
        mentions: mentions(state, content, perms),
        nonce: nonce,
        reactions: []
      }

      payload = dispatch_message(state, "MESSAGE_CREATE", msg)
      Messages.put(state.messages, msg)
      {:ok, payload, %{state | passive_channels: Map.put(state.passive_channels, channel_id, msg.id)}}
    end
  end

  # The mentions of `content` that apply here, with users resolved.
  defp mentions(state, content, author_perms) do
    may_everyone = Permissions.has?(author_perms, Permissions.bit(:mention_everyone))
    m = content |> Mentions.parse() |> Mentions.resolve(state.guild, may_everyone)
    %{m | users: Enum.map(m.users, &user!/1)}
  end

  # Sends MESSAGE_CREATE or MESSAGE_UPDATE for `msg` and returns its
  # payload. Readers are the sessions that see the channel and asked for
  # messages (in passive guilds, only the active ones and those the message
  # mentions); content goes to those with MESSAGE_CONTENT and to the
  # author's own sessions, the others get it empty.
  defp dispatch_message(state, t, msg) do
    payload = Payloads.message(msg)
    readers = Bitmap.intersection(state.views[msg.channel_id], state.intents[:GUILD_MESSAGES])
    Bitmap.intersection_in_place(readers, Bitmap.union(state.active, mentioned(state, msg.mentions)))
    full = Bitmap.intersection(readers, state.intents[:MESSAGE_CONTENT])
    author_id = msg.author.id
    for {slot, %{user_id: ^author_id}} <- state.slots, Bitmap.member?(readers, slot), do: Bitmap.put(full, slot)
    dispatch(state, full, t, payload)
    dispatch(state, Bitmap.difference(readers, full), t, %{payload | "content" => ""})
    payload
  end

  # Slots of sessions a message mentions: all for @everyone or @here, else
  # those of mentioned users and of members with a mentioned role.
  defp mentioned(state, %{everyone: true}), do: state.connected

  defp mentioned(state, %{users: users, roles: roles}) do
    users = MapSet.new(users, & &1.id)

    Bitmap.from_list(
      for {slot, %{user_id: uid}} <- state.slots,
          MapSet.member?(users, uid) or Enum.any?(state.guild.members[uid].roles, &(&1 in roles)),
          do: slot
    )
  end

  @doc "Edits a message of `user_id`'s (MESSAGE_UPDATE)."
  @spec update_message(t, integer, integer, integer, String.t()) :: {:ok, map, t} | {:error, atom}
  def update_message(state, channel_id, message_id, user_id, content) do
    with {:ok, msg} <- fetch_message(state, channel_id, message_id),
         :ok <- if(msg.author.id == user_id, do: :ok, else: {:error, :cannot_edit}),
         {:ok, member} <- fetch_member(state, user_id) do
      perms = Permissions.in_channel(state.guild, member, state.guild.channels[channel_id])
      edited = DateTime.to_iso8601(DateTime.utc_now())
      msg = %{msg | content: content, mentions: mentions(state, content, perms)} |> Map.put(:edited, edited)
      payload = dispatch_message(state, "MESSAGE_UPDATE", msg)
      Messages.put(state.messages, msg)
      {:ok, payload, state}
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
      Messages.delete(state.messages, channel_id, message_id)
      {:ok, state}
    end
  end

  defp author_or(%{author: %{id: id}}, id, _perms, _perm), do: :ok
  defp author_or(_msg, _user, perms, perm), do: check_permission(perms, perm, :missing_permissions)

  defp fetch_message(state, channel_id, message_id) do
    case Messages.fetch(state.messages, channel_id, message_id) do
      {:ok, msg} -> {:ok, msg}
      :error -> {:error, :unknown_message}
    end
  end

  @doc """
  A page of channel history as `user_id` may read it, newest first (see
  `Realtime.Guild.Messages.page/4`). Needs VIEW_CHANNEL (`:missing_access`);
  without READ_MESSAGE_HISTORY the page is empty, as on Discord.
  """
  @spec messages(t, integer, integer, Messages.page(), pos_integer) :: {:ok, [map]} | {:error, atom}
  def messages(state, channel_id, user_id, page, limit) do
    with {:ok, perms} <- channel_permissions(state, channel_id, user_id),
         :ok <- check_permission(perms, :view_channel, :missing_access) do
      case check_permission(perms, :read_message_history, :missing_permissions) do
        :ok -> {:ok, for(m <- Messages.page(state.messages, channel_id, page, limit), do: render_message(m, user_id))}
        {:error, _} -> {:ok, []}
      end
    end
  end

  @doc "One message as `user_id` may read it: needs VIEW_CHANNEL and READ_MESSAGE_HISTORY."
  @spec message(t, integer, integer, integer) :: {:ok, map} | {:error, atom}
  def message(state, channel_id, message_id, user_id) do
    with {:ok, perms} <- channel_permissions(state, channel_id, user_id),
         :ok <- check_permission(perms, :view_channel, :missing_access),
         :ok <- check_permission(perms, :read_message_history, :missing_permissions),
         {:ok, msg} <- fetch_message(state, channel_id, message_id) do
      {:ok, render_message(msg, user_id)}
    end
  end

  # Bots without the MESSAGE_CONTENT privilege read empty content, except
  # in their own messages and those that mention them, as on Discord.
  defp render_message(msg, viewer_id) do
    payload = Payloads.message(msg, viewer_id)
    if reads_content?(user!(viewer_id), msg), do: payload, else: %{payload | "content" => ""}
  end

  defp reads_content?(%{bot: false}, _msg), do: true

  defp reads_content?(viewer, msg) do
    "MESSAGE_CONTENT" in viewer.privileged_intents or msg.author.id == viewer.id or Enum.any?(msg.mentions.users, &(&1.id == viewer.id))
  end

  @doc """
  Adds `user_id`'s reaction with `emoji` (`%{"id" => nil, "name" => ...}`)
  to a message and sends MESSAGE_REACTION_ADD. Needs VIEW_CHANNEL and
  READ_MESSAGE_HISTORY, and ADD_REACTIONS to be the first with that emoji.
  Reacting twice is a no-op.
  """
  @spec add_reaction(t, integer, integer, integer, map) :: {:ok, t} | {:error, atom}
  def add_reaction(state, channel_id, message_id, user_id, emoji) do
    with {:ok, perms} <- channel_permissions(state, channel_id, user_id),
         :ok <- check_permission(perms, :view_channel, :missing_access),
         :ok <- check_permission(perms, :read_message_history, :missing_permissions),
         {:ok, msg} <- fetch_message(state, channel_id, message_id) do
      case List.keyfind(msg.reactions, emoji, 0) do
        {_, users} ->
          if MapSet.member?(users, user_id), do: {:ok, state}, else: react(state, msg, user_id, emoji, MapSet.put(users, user_id))

        nil ->
          with :ok <- check_permission(perms, :add_reactions, :missing_permissions),
               do: react(state, msg, user_id, emoji, MapSet.new([user_id]))
      end
    end
  end

  @doc "Removes `user_id`'s reaction with `emoji` and sends MESSAGE_REACTION_REMOVE; a no-op without one."
  @spec remove_reaction(t, integer, integer, integer, map) :: {:ok, t} | {:error, atom}
  def remove_reaction(state, channel_id, message_id, user_id, emoji) do
    with {:ok, perms} <- channel_permissions(state, channel_id, user_id),
         :ok <- check_permission(perms, :view_channel, :missing_access),
         {:ok, msg} <- fetch_message(state, channel_id, message_id) do
      case List.keyfind(msg.reactions, emoji, 0) do
        {_, users} -> if MapSet.member?(users, user_id), do: react(state, msg, user_id, emoji, MapSet.delete(users, user_id)), else: {:ok, state}
        nil -> {:ok, state}
      end
    end
  end

  # Stores a message's new set of users for `emoji` and tells who sees the
  # channel and asked for reactions.
  defp react(state, msg, user_id, emoji, users) do
    reactions =
      case {List.keymember?(msg.reactions, emoji, 0), MapSet.size(users)} do
        {_, 0} -> List.keydelete(msg.reactions, emoji, 0)
        {true, _} -> List.keyreplace(msg.reactions, emoji, 0, {emoji, users})
        {false, _} -> msg.reactions ++ [{emoji, users}]
      end

    Messages.put(state.messages, %{msg | reactions: reactions})

    d = %{
      "user_id" => to_string(user_id),
      "channel_id" => to_string(msg.channel_id),
      "message_id" => to_string(msg.id),
      "guild_id" => to_string(state.guild.id),
      "emoji" => emoji,
      "burst" => false,
      "type" => 0
    }

    {t, d} = reaction_event(MapSet.member?(users, user_id), d, state, msg)
    dispatch(state, Bitmap.intersection(state.views[msg.channel_id], state.intents[:GUILD_MESSAGE_REACTIONS]), t, d)
    {:ok, state}
  end

  defp reaction_event(true = _added, d, state, msg) do
    user_id = String.to_integer(d["user_id"])
    member = Payloads.member(state.guild.members[user_id], user!(user_id))
    {"MESSAGE_REACTION_ADD", Map.merge(d, %{"member" => member, "message_author_id" => to_string(msg.author.id), "burst_colors" => []})}
  end

  defp reaction_event(false, d, _state, _msg), do: {"MESSAGE_REACTION_REMOVE", d}

  defp channel_permissions(state, channel_id, user_id) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         {:ok, member} <- fetch_member(state, user_id),
         do: {:ok, Permissions.in_channel(state.guild, member, channel)}
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
      payload = render_channel(state, channel)
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
      payload = render_channel(state, channel)
      dispatch(state, Bitmap.intersection(Bitmap.union(before, state.views[channel_id]), state.intents[:GUILDS]), "CHANNEL_UPDATE", payload)
      {:ok, payload, LazyLists.rebuild(state)}
    end
  end

  @doc "Deletes a channel (CHANNEL_DELETE); needs MANAGE_CHANNELS."
  @spec delete_channel(t, integer, integer) :: {:ok, map, t} | {:error, atom}
  def delete_channel(state, user_id, channel_id) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         :ok <- guild_permission(state, user_id, :manage_channels) do
      payload = render_channel(state, channel)
      dispatch(state, Bitmap.intersection(state.views[channel_id], state.intents[:GUILDS]), "CHANNEL_DELETE", payload)
      Messages.delete_channel(state.messages, channel_id)
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
        :ets.insert(state.member_ids, {user_id})
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
      :ets.delete(state.member_ids, user_id)
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
    with {:ok, perms} <- channel_permissions(state, channel_id, user_id),
         :ok <- check_permission(perms, :view_channel, :missing_access) do
      {:ok, render_channel(state, state.guild.channels[channel_id])}
    end
  end

  @doc """
  The guild object for member `user_id` (`:missing_access` for others);
  `with_counts` adds the approximate member and online counts.
  """
  @spec guild_for(t, integer, boolean) :: {:ok, map} | {:error, atom}
  def guild_for(state, user_id, with_counts) do
    with {:ok, _member} <- fetch_member(state, user_id) do
      guild = Payloads.guild(state.guild)

      if with_counts do
        counts = %{"approximate_member_count" => map_size(state.guild.members), "approximate_presence_count" => online_count(state)}
        {:ok, Map.merge(guild, counts)}
      else
        {:ok, guild}
      end
    end
  end

  # Members online by `online?/2`, counted in O(presences + sessions).
  defp online_count(state) do
    by_presence = Enum.count(state.presences, fn {_, p} -> p["status"] in ["online", "idle", "dnd"] end)
    connected = for {_, %{user_id: uid}} <- state.slots, not Map.has_key?(state.presences, uid), uniq: true, do: uid
    by_presence + length(connected)
  end

  @doc "Every channel of the guild, for member `user_id`."
  @spec channels_for(t, integer) :: {:ok, [map]} | {:error, atom}
  def channels_for(state, user_id) do
    with {:ok, _member} <- fetch_member(state, user_id), do: {:ok, channels(state)}
  end

  @doc "Every role of the guild, for member `user_id`."
  @spec roles_for(t, integer) :: {:ok, [map]} | {:error, atom}
  def roles_for(state, user_id) do
    with {:ok, _member} <- fetch_member(state, user_id), do: {:ok, Payloads.guild(state.guild)["roles"]}
  end

  @doc "The member object of `user_id`, for member `actor_id`."
  @spec member_for(t, integer, integer) :: {:ok, map} | {:error, atom}
  def member_for(state, actor_id, user_id) do
    with {:ok, _actor} <- fetch_member(state, actor_id),
         {:ok, member} <- fetch_target(state, user_id),
         do: {:ok, Payloads.member(member, user!(user_id))}
  end

  @doc "Up to `limit` members with ids above `after`, in id order, for member `actor_id`."
  @spec members_page(t, integer, non_neg_integer, pos_integer) :: {:ok, [map]} | {:error, atom}
  def members_page(state, actor_id, after_id, limit) do
    with {:ok, _actor} <- fetch_member(state, actor_id) do
      ids = next_member_ids(state.member_ids, after_id, limit, [])
      {:ok, for(id <- ids, do: Payloads.member(state.guild.members[id], user!(id)))}
    end
  end

  defp next_member_ids(_table, _after, 0, acc), do: Enum.reverse(acc)

  defp next_member_ids(table, after_id, n, acc) do
    case :ets.next(table, after_id) do
      :"$end_of_table" -> Enum.reverse(acc)
      id -> next_member_ids(table, id, n - 1, [id | acc])
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
