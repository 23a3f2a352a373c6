defmodule Realtime.Guild.MemberList do
  @moduledoc """
  One lazy member list (the sidebar a client subscribes to by row ranges),
  kept in a `Realtime.SortedSet` of row keys, so that every change costs
  O(log n) and comes with the row indexes it touched.

  Rows are group headers and members. Groups are the hoisted roles by
  position, then `online`, then `offline`; empty groups have no header. A
  member's group is their highest hoisted role if online, else `offline`.
  Inside a group, members sort by display name (nick, global name,
  username), ties broken by user id. Keys:

  - header: `{rank, :header, 0}` (an atom sorts before every name);
  - member: `{rank, display_name, user_id}`;

  where `rank` is `-position` for a hoisted role, then `@online` and
  `@offline`, so keys do not move when other groups change.

  Changes are returned as primitive steps, in order, each with the rows
  that a subscriber of a 100-row window needs to keep its copy exact:
  `{:insert, index, row, heads}`, `{:delete, index, tails}` and
  `{:update, index, row}`, where `heads` and `tails` map a window's first
  or last index to the row there just after the step.
  """

  alias Realtime.SortedSet

  @online 1_000_000_000
  @offline @online + 1

  # `keys` (user id → key) is an ETS table owned by the creating process:
  # at a million members a map would make that process's heap, and its
  # garbage collections, huge.
  defstruct [:id, :set, :keys, groups: %{}, size: 0, online: 0]

  @type key :: {integer, atom | binary, non_neg_integer}
  @type row :: {:group, String.t(), non_neg_integer} | {:member, non_neg_integer}
  @type step ::
          {:insert, non_neg_integer, row, %{non_neg_integer => row}}
          | {:delete, non_neg_integer, %{non_neg_integer => row}}
          | {:update, non_neg_integer, row}
  @type t :: %__MODULE__{}

  @doc "An empty list."
  @spec new(String.t()) :: t
  def new(id), do: %__MODULE__{id: id, set: SortedSet.new(), keys: :ets.new(__MODULE__, [:set, :private])}

  @doc "A list built at once from `{user_id, key}` pairs, in O(n log n)."
  @spec from_members(String.t(), [{non_neg_integer, key}]) :: t
  def from_members(id, pairs) do
    groups = Enum.frequencies_by(pairs, fn {_, {rank, _, _}} -> rank end)
    headers = for {rank, _} <- groups, do: header(rank)
    set = SortedSet.from_enumerable(headers ++ Enum.map(pairs, &elem(&1, 1)))
    online = groups |> Enum.reject(fn {rank, _} -> rank == @offline end) |> Enum.map(&elem(&1, 1)) |> Enum.sum()
    keys = :ets.new(__MODULE__, [:set, :private])
    :ets.insert(keys, pairs)
    %__MODULE__{id: id, set: set, groups: groups, keys: keys, size: :ets.info(keys, :size), online: online}
  end

  @doc """
  The key of a member: `hoisted` maps role ids to positions for the guild's
  hoisted roles; `name` is the display name.
  """
  @spec key(map, String.t(), %{integer => integer}, boolean) :: key
  def key(member, name, hoisted, online?) do
    rank =
      if online? do
        member.roles
        |> Enum.flat_map(fn r -> if p = hoisted[r], do: [-p], else: [] end)
        |> Enum.min(fn -> @online end)
      else
        @offline
      end

    {rank, name, member.user_id}
  end

  @doc "The id of the group of a key (`\"online\"`, `\"offline\"` or a role id)."
  @spec group_id(integer, %{integer => integer}) :: String.t()
  def group_id(@online, _), do: "online"
  def group_id(@offline, _), do: "offline"

  def group_id(rank, hoisted) do
    {role, _} = Enum.find(hoisted, fn {_, p} -> -p == rank end)
    to_string(role)
  end

  @doc """
  Puts a member at `key` (moving them if their key changed), for
  subscribers of `windows` (first indexes of subscribed 100-row windows).
  Returns the steps and the list.
  """
  @spec put(t, non_neg_integer, key, [non_neg_integer]) :: {[step], t}
  def put(list, user_id, key, windows) do
    case lookup(list, user_id) do
      {:ok, ^key} ->
        {[{:update, SortedSet.find_index(list.set, key), {:member, user_id}}], list}

      {:ok, old} ->
        {removed, list} = remove(list, user_id, windows)
        {added, list} = add(list, user_id, key, windows)
        {collapse(old, key, removed, added), list}

      :error ->
        add(list, user_id, key, windows)
    end
  end

  @doc "Removes a member; no steps if absent."
  @spec remove(t, non_neg_integer, [non_neg_integer]) :: {[step], t}
  def remove(list, user_id, windows) do
    case lookup(list, user_id) do
      :error ->
        {[], list}

      {:ok, {rank, _, _} = key} ->
        :ets.delete(list.keys, user_id)
        {idx, _} = SortedSet.index_remove(list.set, key)
        steps = [{:delete, idx, tails(list, idx, windows)}]
        count = list.groups[rank] - 1
        list = %{list | size: list.size - 1, online: list.online - if(rank == @offline, do: 0, else: 1)}

        if count == 0 do
          {hidx, _} = SortedSet.index_remove(list.set, header(rank))
          {steps ++ [{:delete, hidx, tails(list, hidx, windows)}], %{list | groups: Map.delete(list.groups, rank)}}
        else
          hidx = SortedSet.find_index(list.set, header(rank))
          {steps ++ [{:update, hidx, {:group, rank, count}}], %{list | groups: Map.put(list.groups, rank, count)}}
        end
    end
  end

  # A member whose key changed but who stays in the same group at the same
  # index is one UPDATE, not DELETE and INSERT (the group count is unchanged).
  defp collapse({rank, _, _}, {rank, _, _}, [{:delete, i, _} | _], [{:insert, i, row, _} | _]), do: [{:update, i, row}]
  defp collapse(_old, _new, removed, added), do: removed ++ added

  defp add(list, user_id, {rank, _, _} = key, windows) do
    {header_steps, count} =
      case Map.fetch(list.groups, rank) do
        {:ok, n} ->
          {[], n}

        :error ->
          {hidx, _} = SortedSet.index_add(list.set, header(rank))
          {[{:insert, hidx, {:group, rank, 1}, heads(list, hidx, windows)}], 0}
      end

    {idx, _} = SortedSet.index_add(list.set, key)
    steps = header_steps ++ [{:insert, idx, {:member, user_id}, heads(list, idx, windows)}]
    steps = if count > 0, do: steps ++ [{:update, SortedSet.find_index(list.set, header(rank)), {:group, rank, count + 1}}], else: steps

    :ets.insert(list.keys, {user_id, key})

    list = %{
      list
      | size: list.size + 1,
        groups: Map.put(list.groups, rank, count + 1),
        online: list.online + if(rank == @offline, do: 0, else: 1)
    }

    {steps, list}
  end

  defp header(rank), do: {rank, :header, 0}

  # After an insert at `idx`, windows starting after it got a new first row.
  defp heads(list, idx, windows), do: rows_at(list, for(s <- windows, s > idx, do: s))

  # After a delete at `idx`, windows ending at or after it got a new last row.
  defp tails(list, idx, windows), do: rows_at(list, for(s <- windows, s + 99 >= idx, do: s + 99))

  # The rows at `indices` that exist, read in one call.
  defp rows_at(_list, []), do: %{}

  defp rows_at(list, indices) do
    rows = SortedSet.at_many(list.set, indices)
    for {i, key} <- Enum.zip(indices, rows), key != nil, into: %{}, do: {i, to_row(list, key)}
  end

  defp to_row(list, {rank, :header, 0}), do: {:group, rank, list.groups[rank]}
  defp to_row(_list, {_, _, user_id}), do: {:member, user_id}

  @doc "The rows from `start`, at most `count`."
  @spec rows(t, non_neg_integer, non_neg_integer) :: [row]
  def rows(list, start, count), do: list.set |> SortedSet.slice(start, count) |> Enum.map(&to_row(list, &1))

  @doc "Member count, online count, and the groups in order as `{rank, count}`."
  @spec counts(t) :: {non_neg_integer, non_neg_integer, [{integer, non_neg_integer}]}
  def counts(list), do: {list.size, list.online, Enum.sort(list.groups)}

  @doc "Frees the list's table (the set is freed with its last reference)."
  @spec delete(t) :: :ok
  def delete(list) do
    :ets.delete(list.keys)
    :ok
  end

  defp lookup(list, user_id) do
    case :ets.lookup(list.keys, user_id) do
      [{_, key}] -> {:ok, key}
      [] -> :error
    end
  end

  @doc """
  Translates steps into the ops one subscriber of window `s` (rows `s` to
  `s + 99`) must apply, range-locally: INSERT shifts the window's rows down
  and drops any past its end; DELETE shifts them up.
  """
  @spec ops_for_window([step], non_neg_integer) :: [tuple]
  def ops_for_window(steps, s) do
    e = s + 99

    Enum.flat_map(steps, fn
      {:update, i, row} when i >= s and i <= e -> [{:update, i, row}]
      {:update, _, _} -> []
      {:insert, i, _, _} when i > e -> []
      {:insert, i, row, _} when i >= s -> [{:insert, i, row}]
      {:insert, _i, _, heads} -> List.wrap(if h = heads[s], do: {:insert, s, h})
      {:delete, i, _} when i > e -> []
      {:delete, i, tails} -> [{:delete, max(i, s)} | List.wrap(if t = tails[e], do: {:insert, e, t})]
    end)
  end
end
