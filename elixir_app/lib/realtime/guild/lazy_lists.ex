defmodule Realtime.Guild.LazyLists do
  @moduledoc """
  The lazy member lists of one guild (op 14 and 37 subscriptions and
  GUILD_MEMBER_LIST_UPDATE), as functions over `Realtime.Guild.State`.

  Channels with the same visibility share one list. Its id is `"everyone"`
  when @everyone can view the channel and no overwrite touches
  VIEW_CHANNEL, otherwise a hash of the channel's VIEW_CHANNEL overwrites.
  A session subscribes to at most 5 channels per guild and 3 row windows
  per channel, each snapped to 100 rows; more is ignored, as are unknown
  channels. A new window gets a SYNC; a dropped one an INVALIDATE; after
  that, only the ops that touch a subscribed window, translated so that the
  client's copy stays exact (see `Realtime.Guild.MemberList`), one update
  per window.
  """

  require Realtime.Metrics, as: Metrics

  import Bitwise

  alias Realtime.{Bitmap, Directory}
  alias Realtime.Gateway.Payloads
  alias Realtime.Guild.{MemberList, Permissions, Presence, State}

  @max_channels 5
  @max_windows 3
  @view 1 <<< 10

  defstruct lists: %{}, channels: %{}, subs: %{}

  @type t :: %__MODULE__{}

  @doc "The list id of a channel."
  @spec list_id(map, map) :: String.t()
  def list_id(guild, channel) do
    view_overwrites =
      channel.permission_overwrites
      |> Enum.filter(&(((&1.allow ||| &1.deny) &&& @view) != 0))
      |> Enum.map(&{&1.id, &1.allow &&& @view, &1.deny &&& @view})
      |> Enum.sort()

    everyone_views = Permissions.has?(guild.roles[guild.id].permissions, @view)

    if view_overwrites == [] and everyone_views,
      do: "everyone",
      else: view_overwrites |> :erlang.phash2() |> Integer.to_string()
  end

  @doc """
  Applies a session's subscriptions (`%{channel_id => [[start, end], ...]}`)
  in one guild, and sends it SYNC and INVALIDATE ops, unless `quiet` (a
  guild taking over subscriptions the session already has in sync).
  """
  @spec subscribe(State.t(), pid, %{integer => list}, boolean) :: State.t()
  def subscribe(state, session, channels, quiet \\ false) do
    wanted =
      channels
      |> Enum.filter(fn {cid, ranges} -> Map.has_key?(state.guild.channels, cid) and windows(ranges) != :invalid end)
      |> Enum.take(@max_channels)

    Enum.reduce(wanted, state, fn {cid, ranges}, state ->
      channel = state.guild.channels[cid]
      id = list_id(state.guild, channel)
      state = ensure_list(state, id, channel)
      windows = ranges |> windows() |> Enum.take(@max_windows)
      before = get_in(state.lazy.subs, [id, session]) || []
      state = update_lazy(state, :subs, &Map.update!(&1, id, fn by -> Map.put(by, session, windows) end))
      list = state.lazy.lists[id]

      ops =
        for(s <- before -- windows, do: %{"op" => "INVALIDATE", "range" => [s, s + 99]}) ++
          for s <- windows -- before do
            %{"op" => "SYNC", "range" => [s, s + 99], "items" => Enum.map(MemberList.rows(list, s, 100), &item(state, &1))}
          end

      if ops != [] and not quiet, do: send_update(state, id, [session], ops)
      state
    end)
  end

  # The 100-row windows of a channel's ranges; `:invalid` (the channel is
  # then ignored) when ranges were given and none is valid. `[]` unsubscribes.
  defp windows(ranges) when is_list(ranges) do
    windows =
      ranges
      |> Enum.flat_map(fn
        [s, e] when is_integer(s) and is_integer(e) and s >= 0 and e >= s -> Enum.map(div(s, 100)..div(min(e, s + 299), 100), &(&1 * 100))
        _ -> []
      end)
      |> Enum.uniq()

    if windows == [] and ranges != [], do: :invalid, else: windows
  end

  defp windows(_), do: :invalid

  @doc "Forgets a session's subscriptions."
  @spec unsubscribe(State.t(), pid) :: State.t()
  def unsubscribe(state, session) do
    update_lazy(state, :subs, &Map.new(&1, fn {id, by} -> {id, Map.delete(by, session)} end))
  end

  defp ensure_list(state, id, channel) do
    if Map.has_key?(state.lazy.lists, id) do
      state
    else
      list =
        MemberList.from_members(id, for({uid, m} <- state.guild.members, visible?(state, m, channel), do: {uid, key(state, m)}))

      state
      |> update_lazy(:lists, &Map.put(&1, id, list))
      |> update_lazy(:channels, &Map.put(&1, id, channel.id))
      |> update_lazy(:subs, &Map.put(&1, id, %{}))
    end
  end

  defp update_lazy(state, field, fun), do: %{state | lazy: Map.update!(state.lazy, field, fun)}

  defp visible?(state, member, channel),
    do: Permissions.has?(Permissions.in_channel(state.guild, member, channel), @view)

  defp hoisted(state), do: for({id, r} <- state.guild.roles, r.hoist, into: %{}, do: {id, r.position})

  defp key(state, member) do
    {:ok, user} = Directory.user(member.user_id)
    MemberList.key(member, member.nick || user.global_name || user.username, hoisted(state), Presence.online?(state, member.user_id))
  end

  @doc """
  Recomputes `user_id`'s row in every list (after a presence, nick, role,
  join or leave change) and sends each subscriber the ops for its windows.
  """
  @spec member_changed(State.t(), integer) :: State.t()
  def member_changed(%{lazy: %{lists: lists}} = state, _user_id) when map_size(lists) == 0, do: state
  def member_changed(state, user_id), do: Metrics.time(:member_list, nil, fn -> apply_member_change(state, user_id) end)

  defp apply_member_change(state, user_id) do
    Enum.reduce(state.lazy.lists, state, fn {id, list}, state ->
      channel = state.guild.channels[state.lazy.channels[id]]
      subs = state.lazy.subs[id] || %{}
      windows = subs |> Map.values() |> List.flatten() |> Enum.uniq()
      member = state.guild.members[user_id]

      {steps, list} =
        if member && channel && visible?(state, member, channel),
          do: MemberList.put(list, user_id, key(state, member), windows),
          else: MemberList.remove(list, user_id, windows)

      state = update_lazy(state, :lists, &Map.put(&1, id, list))
      notify(state, id, subs, steps)
      state
    end)
  end

  @doc "Rebuilds every list from scratch (after role or overwrite changes) and resyncs subscribers."
  @spec rebuild(State.t()) :: State.t()
  def rebuild(state) do
    old = state.lazy
    Enum.each(old.lists, fn {_, list} -> MemberList.delete(list) end)
    state = %{state | lazy: %__MODULE__{}}

    Enum.reduce(old.subs, state, fn {id, by}, state ->
      Enum.reduce(by, state, fn {session, windows}, state ->
        ranges = Enum.map(windows, &[&1, &1 + 99])
        subscribe(state, session, %{old.channels[id] => ranges})
      end)
    end)
  end

  # One update per touched window, to all its subscribers: the ops of a
  # window are encoded once however many sessions watch it. (Ops are
  # window-local, so a session watching several windows may apply their
  # updates in any order.)
  defp notify(_state, _id, _subs, []), do: :ok

  defp notify(state, id, subs, steps) do
    subs
    |> Enum.flat_map(fn {session, windows} -> Enum.map(windows, &{&1, session}) end)
    |> Enum.group_by(&elem(&1, 0), &elem(&1, 1))
    |> Enum.each(fn {window, sessions} ->
      case MemberList.ops_for_window(steps, window) do
        [] -> :ok
        ops -> send_update(state, id, sessions, Enum.map(ops, &op(state, &1)))
      end
    end)
  end

  defp op(state, {:insert, i, row}), do: %{"op" => "INSERT", "index" => i, "item" => item(state, row)}
  defp op(state, {:update, i, row}), do: %{"op" => "UPDATE", "index" => i, "item" => item(state, row)}
  defp op(_state, {:delete, i}), do: %{"op" => "DELETE", "index" => i}

  defp item(state, {:group, rank, count}), do: %{"group" => %{"id" => MemberList.group_id(rank, hoisted(state)), "count" => count}}

  defp item(state, {:member, uid}) do
    {:ok, user} = Directory.user(uid)
    presence = state.presences[uid] || %{"status" => if(Presence.online?(state, uid), do: "online", else: "offline"), "activities" => []}
    %{"member" => Map.put(Payloads.member(state.guild.members[uid], user), "presence", presence)}
  end

  defp send_update(state, id, sessions, ops) do
    list = state.lazy.lists[id]
    {members, online, groups} = MemberList.counts(list)
    hoisted = hoisted(state)

    d = %{
      "guild_id" => to_string(state.guild.id),
      "id" => id,
      "member_count" => members,
      "online_count" => online,
      "groups" => Enum.map(groups, fn {rank, n} -> %{"id" => MemberList.group_id(rank, hoisted), "count" => n} end),
      "ops" => ops
    }

    slots = for s <- sessions, slot = state.by_session[s], do: slot
    State.dispatch(state, Bitmap.from_list(slots), "GUILD_MEMBER_LIST_UPDATE", d)
  end
end
