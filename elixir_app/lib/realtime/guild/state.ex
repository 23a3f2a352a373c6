defmodule Realtime.Guild.State do
  @moduledoc """
  A guild's state: its data (`guild`: members, roles, channels), the
  connected sessions, and who may see what. The rules that change it live
  by concern, each a small module of functions over this state that the
  guild process calls and tests can call without a process:
  `Realtime.Guild.Messages`, `Channels`, `Roles`, `Members` and `Presence`.
  A rule that changes durable data returns a `Realtime.Guild.Change`, which
  `Realtime.Guild` persists before applying it.

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

  require Realtime.Metrics, as: Metrics

  alias Realtime.{Bitmap, Directory, ETF, Fanout, JSON}
  alias Realtime.Fanout.Remote
  alias Realtime.Gateway.{Intents, Payloads}
  alias Realtime.Guild.{Audience, LazyLists, MessageCache, Permissions, Presence}

  @intent_views [:GUILDS, :GUILD_MEMBERS, :GUILD_PRESENCES, :GUILD_MESSAGES, :MESSAGE_CONTENT, :GUILD_MESSAGE_TYPING, :GUILD_MESSAGE_REACTIONS]

  # Discord's rule: in guilds above this many members, sessions are passive
  # until they subscribe to the member list.
  @passive_members 75_000

  defstruct [
    :guild,
    # Sessions on this node, by slot (Realtime.Fanout)...
    :table,
    :connected,
    # ...and sessions on other nodes, delivered one message per node.
    remote: %Remote{},
    intents: %{},
    views: %{},
    slots: %{},
    by_session: %{},
    free: [],
    next_slot: 0,
    # The newest messages per channel (Realtime.Guild.MessageCache).
    messages: nil,
    # Member ids in order, for paging members (an ETS ordered_set).
    member_ids: nil,
    presences: %{},
    lazy: %Realtime.Guild.LazyLists{},
    # Slots that get the firehose; in passive guilds, only after subscribing.
    active: nil,
    # Slots whose session speaks ETF: a dispatch encodes only what its
    # recipients read.
    etf: nil,
    # What passive sessions are told at the next PASSIVE_UPDATE_V2.
    passive_channels: %{},
    passive_members: MapSet.new(),
    # Members as bitmaps, for pushes (Realtime.Guild.Audience).
    audience: nil,
    # The lease epoch every write of this guild carries (Realtime.Guild.Lease).
    epoch: nil,
    # Changes written to the store and not yet answered: tag => {sent_at_us, [{from, change}]}.
    pending: %{},
    # Pipelined changes not yet sent to the store: {count, [{from, change}]}, newest first.
    gathered: {0, []}
  ]

  @type t :: %__MODULE__{}

  @doc "A state for the guild data `guild` (see `Realtime.Seed`)."
  @spec new(map) :: t
  def new(guild) do
    member_ids = :ets.new(:member_ids, [:ordered_set, :protected])
    :ets.insert(member_ids, for(id <- Map.keys(guild.members), do: {id}))

    %__MODULE__{
      guild: guild,
      messages: MessageCache.new(),
      member_ids: member_ids,
      audience: if(Realtime.Push.enabled?(), do: Audience.new(guild)),
      table: Fanout.new(),
      connected: Bitmap.new(),
      active: Bitmap.new(),
      etf: Bitmap.new(),
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
        state = bind(state, slot, session)
        Bitmap.put(state.connected, slot)
        state = if passive_guild?(state), do: state, else: activate(state, slot, user_id)
        if Keyword.get(opts, :encoding) == :etf, do: Bitmap.put(state.etf, slot)
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
  Applies a session's lazy member list subscriptions (op 14 / 37). A
  session that subscribes becomes active.
  """
  @spec subscribe_lists(t, pid, map) :: t
  def subscribe_lists(state, session, channels) do
    case state.by_session[session] do
      nil ->
        state

      slot ->
        state = if Bitmap.member?(state.active, slot), do: state, else: activate(state, slot, state.slots[slot].user_id)
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

  @typedoc "What a guild hands to the one taking over (see `handover/1`)."
  @type handover :: %{presences: map, sessions: [{pid, integer, non_neg_integer, keyword, %{integer => list}}]}

  @doc """
  What a guild taking over from this one needs to serve the connected
  sessions without them noticing: the presences (not stored anywhere), and
  for each session its user, intents, encoding and member list windows
  (see `adopt/2`).
  """
  @spec handover(t) :: handover
  def handover(state), do: %{presences: state.presences, sessions: subscriptions(state)}

  defp subscriptions(state) do
    lists =
      for {id, by_session} <- state.lazy.subs, {session, windows} <- by_session, reduce: %{} do
        acc -> Map.update(acc, session, %{state.lazy.channels[id] => ranges(windows)}, &Map.put(&1, state.lazy.channels[id], ranges(windows)))
      end

    for {slot, %{session: session, user_id: user_id, intents: intents}} <- state.slots do
      encoding = if Bitmap.member?(state.etf, slot), do: :etf, else: :json
      {session, user_id, intents, [encoding: encoding], Map.get(lists, session, %{})}
    end
  end

  defp ranges(windows), do: for(s <- windows, do: [s, s + 99])

  @doc "Takes over what `handover/1` gave, silently: the sessions already have the guild."
  @spec adopt(t, handover) :: t
  def adopt(state, %{presences: presences, sessions: sessions}) do
    # Presences first: member lists order members by them.
    state = %{state | presences: Map.merge(presences, state.presences)}

    # Every session before any member list: a session that connects changes
    # a member's status, which would update lists already subscribed to.
    state =
      Enum.reduce(sessions, state, fn {session, user_id, intents, opts, _lists}, state ->
        case subscribe(state, session, user_id, intents, opts) do
          {:ok, _guild_create, state} -> state
          {:error, :not_member} -> state
        end
      end)

    Enum.reduce(sessions, state, fn
      {_session, _user_id, _intents, _opts, lists}, state when lists == %{} -> state
      {session, _user_id, _intents, _opts, lists}, state -> LazyLists.subscribe(state, session, lists, true)
    end)
  end

  @doc "The connected sessions on `node` (another node's)."
  @spec sessions_on(t, node) :: [pid]
  def sessions_on(state, node), do: Remote.pids_on(state.remote, node)

  @doc "Disconnects a session; a no-op for one that is not connected."
  @spec unsubscribe(t, pid) :: t
  def unsubscribe(state, session) do
    case Map.pop(state.by_session, session) do
      {nil, _} ->
        state

      {slot, by_session} ->
        %{user_id: user_id} = state.slots[slot]
        state = if Bitmap.member?(state.active, slot), do: %{state | audience: Audience.session_down(state.audience, user_id)}, else: state
        Fanout.delete(state.table, slot)
        state = %{state | remote: Remote.delete(state.remote, slot)}
        for bm <- [state.connected, state.active, state.etf | Map.values(state.intents) ++ Map.values(state.views)], do: Bitmap.delete(bm, slot)
        state = %{state | by_session: by_session, slots: Map.delete(state.slots, slot), free: [slot | state.free]}
        state |> LazyLists.unsubscribe(session) |> LazyLists.member_changed(user_id)
    end
  end

  defp bind(state, slot, session) when node(session) == node() do
    Fanout.put(state.table, slot, session)
    state
  end

  defp bind(state, slot, session), do: %{state | remote: Remote.put(state.remote, slot, session)}

  # A session that gets the firehose: its member is no longer offline.
  defp activate(state, slot, user_id) do
    Bitmap.put(state.active, slot)
    %{state | audience: Audience.session_up(state.audience, user_id)}
  end

  @doc "Recomputes who may see what for pushes, after roles or overwrites changed."
  @spec refresh_audience(t) :: t
  def refresh_audience(state), do: %{state | audience: Audience.rebuild(state.audience, state.guild)}

  @doc "Updates one member's part of the push audience, after it joined, left or changed roles."
  @spec member_audience(t, integer) :: t
  def member_audience(state, user_id), do: %{state | audience: Audience.member_changed(state.audience, state.guild, user_id)}

  @doc "Puts `value` under `id` in the guild's `key` (`:channels`, `:roles`, `:members`)."
  @spec put_guild(t, atom, integer, map) :: t
  def put_guild(state, key, id, value), do: %{state | guild: Map.update!(state.guild, key, &Map.put(&1, id, value))}

  @doc "Deletes `id` from the guild's `key`."
  @spec delete_guild(t, atom, integer) :: t
  def delete_guild(state, key, id), do: %{state | guild: Map.update!(state.guild, key, &Map.delete(&1, id))}

  defp take_slot(%{free: [slot | rest]} = state), do: {slot, %{state | free: rest}}
  defp take_slot(%{next_slot: n} = state), do: {n, %{state | next_slot: n + 1}}

  @doc "Sets a connected member's channel views."
  @spec put_views(t, non_neg_integer, map) :: :ok
  def put_views(state, slot, member) do
    base = Permissions.base(state.guild, member)
    view = Permissions.bit(:view_channel)

    for {id, channel} <- state.guild.channels do
      bm = Map.fetch!(state.views, id)
      perms = Permissions.apply_overwrites(base, state.guild, member, channel)
      if Permissions.has?(perms, view), do: Bitmap.put(bm, slot), else: Bitmap.delete(bm, slot)
    end

    :ok
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
        large -> [member | for({uid, m} <- g.members, uid != member.user_id, Presence.online?(state, uid), do: m)]
        true -> Map.values(g.members)
      end

    presences = if Intents.has?(intents, :GUILD_PRESENCES), do: Map.values(state.presences), else: []
    Payloads.guild_create(g, members, channels(state), &user!/1, joined_at: member.joined_at, large: large, presences: presences)
  end

  @doc """
  Every channel of the guild, rendered, in position order. Bots see all
  channels, as on Discord; permissions decide what they can do in them.
  """
  @spec channels(t) :: [map]
  def channels(state) do
    state.guild.channels |> Map.values() |> Enum.sort_by(& &1.position) |> Enum.map(&render_channel(state, &1))
  end

  @doc "A channel object, with its last message id."
  @spec render_channel(t, map) :: map
  def render_channel(state, channel),
    do: Payloads.channel(channel, state.guild.id, MessageCache.last_id(state.messages, channel.id))

  @doc """
  The guild object for member `user_id` (`:missing_access` for others);
  `with_counts` adds the approximate member and online counts.
  """
  @spec guild_object(t, integer, boolean) :: {:ok, map} | {:error, atom}
  def guild_object(state, user_id, with_counts) do
    with {:ok, _member} <- fetch_member(state, user_id) do
      guild = Payloads.guild(state.guild)
      counts = %{"approximate_member_count" => map_size(state.guild.members), "approximate_presence_count" => Presence.count(state)}
      {:ok, if(with_counts, do: Map.merge(guild, counts), else: guild)}
    end
  end

  @doc "The user `id` of the directory (every member's user is there)."
  @spec user!(integer) :: map
  def user!(id) do
    {:ok, u} = Directory.user(id)
    u
  end

  @doc "A channel of the guild, or `:unknown_channel`."
  @spec fetch_channel(t, integer) :: {:ok, map} | {:error, :unknown_channel}
  def fetch_channel(state, id), do: fetch(state.guild.channels, id, :unknown_channel)

  @doc "The member who acts, or `:missing_access` for someone who is not one."
  @spec fetch_member(t, integer) :: {:ok, map} | {:error, :missing_access}
  def fetch_member(state, id), do: fetch(state.guild.members, id, :missing_access)

  @doc "The member an action is about (as opposed to the one acting), or `:unknown_member`."
  @spec fetch_target(t, integer) :: {:ok, map} | {:error, :unknown_member}
  def fetch_target(state, user_id), do: fetch(state.guild.members, user_id, :unknown_member)

  defp fetch(map, id, error) do
    case Map.fetch(map, id) do
      {:ok, value} -> {:ok, value}
      :error -> {:error, error}
    end
  end

  @doc "`user_id`'s permissions in `channel_id`."
  @spec channel_permissions(t, integer, integer) :: {:ok, non_neg_integer} | {:error, atom}
  def channel_permissions(state, channel_id, user_id) do
    with {:ok, channel} <- fetch_channel(state, channel_id),
         {:ok, member} <- fetch_member(state, user_id),
         do: {:ok, Permissions.in_channel(state.guild, member, channel)}
  end

  @doc "`:ok` if `user_id` has guild permission `perm`, else `:missing_permissions`."
  @spec guild_permission(t, integer, atom) :: :ok | {:error, atom}
  def guild_permission(state, user_id, perm) do
    with {:ok, member} <- fetch_member(state, user_id) do
      check(Permissions.base(state.guild, member), perm, :missing_permissions)
    end
  end

  @doc "`:ok` if `perms` include `name`, else `{:error, error}`."
  @spec check(non_neg_integer, atom, atom) :: :ok | {:error, atom}
  def check(perms, name, error), do: if(Permissions.has?(perms, Permissions.bit(name)), do: :ok, else: {:error, error})

  @doc """
  Encodes `d` once in each encoding that `recipients` read (JSON, ETF, or
  both) and delivers it to them.
  """
  @spec dispatch(t, Bitmap.t(), String.t(), map) :: non_neg_integer
  def dispatch(state, recipients, t, d) do
    total = Bitmap.size(recipients)

    if total == 0 do
      0
    else
      etf = Bitmap.intersection_size(recipients, state.etf)
      # Each encoding once, and only if a recipient reads it.
      encoded = if etf < total, do: %{json: Metrics.time(:encode, "json", fn -> JSON.encode(d) end)}, else: %{}
      encoded = if etf > 0, do: Map.put(encoded, :etf, Metrics.time(:encode, "etf", fn -> ETF.encode(d) end)), else: encoded
      # `at` lets each connection time the event's delivery. The OS clock,
      # because the connection may be on another node, whose monotonic
      # clock has another origin.
      message = {:gateway_dispatch, t, {:encoded, Map.put(encoded, :at, System.os_time(:microsecond))}}
      n = Metrics.time(:fanout, nil, fn -> Fanout.send(state.table, recipients, message) + Remote.send(state.remote, recipients, message) end)
      Metrics.inc(:dispatched, t)
      Metrics.inc(:delivered, t, n)
      Metrics.observe(:fanout_size, nil, n)
      n
    end
  end
end
