defmodule Realtime.Guild.Audience do
  @moduledoc """
  A guild's members as bitmaps, for deciding who gets a push notification
  without a loop over members: every member has a dense index, and

    * `everyone` holds every member,
    * `roles[role_id]` the members with that role,
    * `visible[channel_id]` the members who may view that channel,
    * `active` the members with at least one active (not passive) session.

  The offline members a message reaches are then
  `(mentioned users ∪ members of mentioned roles ∪ everyone if @everyone)
  ∩ visible[channel] − active`: a few bitmap operations, the same kind as
  the fanout's. Visibility is computed for every member when the guild
  loads and when roles or overwrites change (rare), for one member when
  that member joins, leaves or changes roles, and never per message.

  A guild builds its audience only when pushes are on (a sink is
  configured); every function takes `nil`, the audience of a guild that
  does not push, and returns it unchanged.
  """

  alias Realtime.Bitmap
  alias Realtime.Guild.Permissions

  defstruct index: %{}, users: %{}, next: 0, everyone: nil, roles: %{}, visible: %{}, active: nil, sessions: %{}

  @type t :: %__MODULE__{} | nil

  @doc "The audience of `guild` (`%{members, roles, channels, ...}`) with no active sessions."
  @spec new(map) :: t
  def new(guild) do
    ids = guild.members |> Map.keys() |> Enum.sort()
    index = ids |> Enum.with_index() |> Map.new()
    a = %__MODULE__{index: index, users: Map.new(index, fn {u, i} -> {i, u} end), next: length(ids), active: Bitmap.new()}
    rebuild(a, guild)
  end

  @doc "Recomputes every bitmap but `active` from `guild` (after a role, overwrite or membership change)."
  @spec rebuild(t, map) :: t
  def rebuild(nil, _guild), do: nil

  def rebuild(a, guild) do
    # Members who joined since the last rebuild get indices; those who left keep theirs unused.
    a = Enum.reduce(guild.members, a, fn {uid, _}, a -> ensure(a, uid) end)
    members = for {uid, m} <- guild.members, do: {a.index[uid], m}
    view = Permissions.bit(:view_channel)

    roles =
      Map.new(guild.roles, fn {rid, _} ->
        {rid, Bitmap.from_list(for({i, m} <- members, rid in m.roles, do: i))}
      end)

    visible =
      Map.new(guild.channels, fn {cid, channel} ->
        {cid, Bitmap.from_list(for({i, m} <- members, Permissions.has?(Permissions.in_channel(guild, m, channel), view), do: i))}
      end)

    %{a | everyone: Bitmap.from_list(Enum.map(members, &elem(&1, 0))), roles: roles, visible: visible}
  end

  @doc "Updates `user_id`'s bits alone, after the member joined, left or changed roles."
  @spec member_changed(t, map, integer) :: t
  def member_changed(nil, _guild, _user_id), do: nil

  def member_changed(a, guild, user_id) do
    a = ensure(a, user_id)
    i = a.index[user_id]
    member = guild.members[user_id]
    view = Permissions.bit(:view_channel)
    set(a.everyone, i, member != nil)
    for {rid, bm} <- a.roles, do: set(bm, i, member != nil and rid in member.roles)

    for {cid, bm} <- a.visible,
        do: set(bm, i, member != nil and Permissions.has?(Permissions.in_channel(guild, member, guild.channels[cid]), view))

    a
  end

  defp set(bitmap, i, true), do: Bitmap.put(bitmap, i)
  defp set(bitmap, i, false), do: Bitmap.delete(bitmap, i)

  defp ensure(a, uid) do
    if Map.has_key?(a.index, uid),
      do: a,
      else: %{a | index: Map.put(a.index, uid, a.next), users: Map.put(a.users, a.next, uid), next: a.next + 1}
  end

  @doc "Records that `user_id` has one more active session."
  @spec session_up(t, integer) :: t
  def session_up(nil, _user_id), do: nil

  def session_up(a, user_id) do
    a = ensure(a, user_id)
    if Map.get(a.sessions, user_id, 0) == 0, do: Bitmap.put(a.active, a.index[user_id])
    %{a | sessions: Map.update(a.sessions, user_id, 1, &(&1 + 1))}
  end

  @doc "Records that `user_id` has one active session fewer."
  @spec session_down(t, integer) :: t
  def session_down(nil, _user_id), do: nil

  def session_down(a, user_id) do
    case Map.get(a.sessions, user_id, 0) do
      n when n <= 1 ->
        if i = a.index[user_id], do: Bitmap.delete(a.active, i)
        %{a | sessions: Map.delete(a.sessions, user_id)}

      n ->
        %{a | sessions: Map.put(a.sessions, user_id, n - 1)}
    end
  end

  @doc """
  The offline members a message in `channel_id` with `mentions` (user ids,
  role ids, everyone) reaches, at most `cap` of them (by index), and how
  many more there were.
  """
  @spec push_targets(t, integer, %{users: [integer], roles: [integer], everyone: boolean}, non_neg_integer) :: {[integer], non_neg_integer}
  def push_targets(nil, _channel_id, _mentions, _cap), do: {[], 0}

  def push_targets(a, channel_id, mentions, cap) do
    case a.visible[channel_id] do
      nil ->
        {[], 0}

      visible ->
        mentioned = mentioned(a, mentions)
        Bitmap.intersection_in_place(mentioned, visible)
        Bitmap.difference_in_place(mentioned, a.active)
        total = Bitmap.size(mentioned)
        {mentioned |> Bitmap.take(cap) |> Enum.map(&a.users[&1]), max(total - cap, 0)}
    end
  end

  defp mentioned(a, %{everyone: true}), do: Bitmap.copy(a.everyone)

  defp mentioned(a, %{users: users, roles: roles}) do
    m = Bitmap.from_list(for uid <- users, i = a.index[uid], do: i)
    for rid <- roles, bm = a.roles[rid], do: Bitmap.union_in_place(m, bm)
    m
  end
end
