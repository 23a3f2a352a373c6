defmodule Realtime.Guild.Members do
  @moduledoc """
  A guild's rules for members: joining, leaving or being kicked
  (KICK_MEMBERS), nick and role changes (MANAGE_NICKNAMES, MANAGE_ROLES),
  and reading members (one, a page in id order, or op 8 chunks), as
  functions over `Realtime.Guild.State`. Changes are barriers
  (`Realtime.Guild.Change`): they change who may see and do what.
  """

  alias Realtime.{Bitmap, Directory}
  alias Realtime.Gateway.Payloads
  alias Realtime.Guild.{Change, LazyLists, Rows, State}

  @doc "Adds a member (GUILD_MEMBER_ADD, to sessions with GUILD_MEMBERS)."
  @spec add(State.t(), integer) :: Change.t() | {:error, atom}
  def add(state, user_id) do
    case {Directory.user(user_id), Map.has_key?(state.guild.members, user_id)} do
      {:error, _} ->
        {:error, :unknown_user}

      {_, true} ->
        {:error, :already_member}

      {{:ok, user}, false} ->
        member = %{user_id: user_id, roles: [], nick: nil, joined_at: DateTime.utc_now() |> DateTime.to_iso8601()}

        Change.new([Rows.put(:members, state.guild.id, user_id, member)], fn state ->
          state = State.put_guild(state, :members, user_id, member)
          :ets.insert(state.member_ids, {user_id})
          payload = Map.put(Payloads.member(member, user), "guild_id", to_string(state.guild.id))
          State.dispatch(state, state.intents[:GUILD_MEMBERS], "GUILD_MEMBER_ADD", payload)
          {{:ok, payload}, state |> LazyLists.member_changed(user_id) |> State.member_audience(user_id)}
        end)
    end
  end

  @doc """
  Removes a member (GUILD_MEMBER_REMOVE), disconnecting their sessions from
  this guild; needs KICK_MEMBERS unless they leave themselves.
  """
  @spec remove(State.t(), integer, integer) :: Change.t() | {:error, atom}
  def remove(state, actor_id, user_id) do
    with {:ok, _member} <- State.fetch_target(state, user_id),
         :ok <- if(actor_id == user_id, do: :ok, else: State.guild_permission(state, actor_id, :kick_members)) do
      Change.new([Rows.delete(:members, state.guild.id, user_id)], fn state ->
        d = %{"guild_id" => to_string(state.guild.id), "user" => Payloads.user(State.user!(user_id))}
        State.dispatch(state, state.intents[:GUILD_MEMBERS], "GUILD_MEMBER_REMOVE", d)
        state = State.delete_guild(state, :members, user_id)
        :ets.delete(state.member_ids, user_id)
        leaving = for {pid, slot} <- state.by_session, state.slots[slot].user_id == user_id, do: pid
        state = Enum.reduce(leaving, state, &State.unsubscribe(&2, &1))
        {:ok, state |> LazyLists.member_changed(user_id) |> State.member_audience(user_id)}
      end)
    end
  end

  @doc """
  Changes a member's nick or roles (GUILD_MEMBER_UPDATE) and their views;
  needs MANAGE_NICKNAMES for a nick and MANAGE_ROLES for roles.
  """
  @spec update(State.t(), integer, integer, map) :: Change.t() | {:error, atom}
  def update(state, actor_id, user_id, attrs) do
    with {:ok, member} <- State.fetch_target(state, user_id),
         :ok <- if(Map.has_key?(attrs, :nick), do: State.guild_permission(state, actor_id, :manage_nicknames), else: :ok),
         :ok <- if(Map.has_key?(attrs, :roles), do: State.guild_permission(state, actor_id, :manage_roles), else: :ok),
         :ok <- known_roles(state, Map.get(attrs, :roles, [])) do
      member = Map.merge(member, Map.take(attrs, [:nick, :roles]))

      Change.new([Rows.put(:members, state.guild.id, user_id, member)], fn state ->
        state = State.put_guild(state, :members, user_id, member)
        for {slot, %{user_id: ^user_id}} <- state.slots, do: State.put_views(state, slot, member)
        payload = Map.put(Payloads.member(member, State.user!(user_id)), "guild_id", to_string(state.guild.id))
        State.dispatch(state, state.intents[:GUILD_MEMBERS], "GUILD_MEMBER_UPDATE", payload)
        state = LazyLists.member_changed(state, user_id)
        {{:ok, payload}, if(Map.has_key?(attrs, :roles), do: State.member_audience(state, user_id), else: state)}
      end)
    end
  end

  defp known_roles(state, roles) do
    if Enum.all?(roles, &Map.has_key?(state.guild.roles, &1)), do: :ok, else: {:error, :unknown_role}
  end

  @doc "The member object of `user_id`, for member `actor_id`."
  @spec fetch(State.t(), integer, integer) :: {:ok, map} | {:error, atom}
  def fetch(state, actor_id, user_id) do
    with {:ok, _actor} <- State.fetch_member(state, actor_id),
         {:ok, member} <- State.fetch_target(state, user_id),
         do: {:ok, Payloads.member(member, State.user!(user_id))}
  end

  @doc "Up to `limit` members with ids above `after_id`, in id order, for member `actor_id`."
  @spec page(State.t(), integer, non_neg_integer, pos_integer) :: {:ok, [map]} | {:error, atom}
  def page(state, actor_id, after_id, limit) do
    with {:ok, _actor} <- State.fetch_member(state, actor_id) do
      ids = next_ids(state.member_ids, after_id, limit, [])
      {:ok, for(id <- ids, do: Payloads.member(state.guild.members[id], State.user!(id)))}
    end
  end

  defp next_ids(_table, _after, 0, acc), do: Enum.reverse(acc)

  defp next_ids(table, after_id, n, acc) do
    case :ets.next(table, after_id) do
      :"$end_of_table" -> Enum.reverse(acc)
      id -> next_ids(table, id, n - 1, [id | acc])
    end
  end

  @doc """
  Sends GUILD_MEMBERS_CHUNK events to one session: members whose username or
  nick starts with `query` (up to `limit`, 0 meaning all), or the members
  with `user_ids`, in chunks of at most 1000.
  """
  @spec request(State.t(), pid, map) :: :ok
  def request(state, session, req) do
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
        "members" => Enum.map(members, &Payloads.member(&1, State.user!(&1.user_id))),
        "chunk_index" => i,
        "chunk_count" => count,
        "not_found" => if(i == 0, do: Enum.map(not_found, &to_string/1), else: []),
        "nonce" => req[:nonce]
      }

      State.dispatch(state, slot_bm, "GUILD_MEMBERS_CHUNK", d)
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
        u = State.user!(m.user_id)
        String.starts_with?(String.downcase(u.username), String.downcase(query)) or
          (is_binary(m.nick) and String.starts_with?(String.downcase(m.nick), String.downcase(query)))
      end)
      |> Enum.sort_by(& &1.user_id)

    {if(limit > 0, do: Enum.take(matching, limit), else: matching), []}
  end
end
