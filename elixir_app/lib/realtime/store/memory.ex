defmodule Realtime.Store.Memory do
  @moduledoc """
  A store in ETS: nothing is durable, and everything is gone with the VM.
  It keeps the same contract as the durable adapters while the VM runs
  (writes in order, all of a write or none of it visible to later reads,
  the same pages), answers at once, and does no I/O: what the application
  did before it had a store. For ephemeral nodes, and as the baseline of
  `mix bench store`.

  The tables belong to the process that opens the store. `config[:name]`
  (an atom) names them, and opening the same name again while its owner
  lives finds what was written.
  """
  @behaviour Realtime.Store

  @impl true
  @spec open(map) :: {:ok, map, [String.t()]}
  def open(config) do
    name = Map.get(config, :name)

    case name && :ets.whereis(name) do
      ref when is_reference(ref) ->
        {:ok, %{rows: name, reactions: :"#{name}.reactions", seen: :"#{name}.seen"}, []}

      _ ->
        opts = if name, do: [:named_table, :public], else: [:public]
        rows = :ets.new(name || :store_rows, [:ordered_set | opts])
        reactions = :ets.new(name && :"#{name}.reactions" || :store_reactions, [:ordered_set | opts])
        seen = :ets.new(name && :"#{name}.seen" || :store_seen, [:set | opts])
        {:ok, %{rows: rows, reactions: reactions, seen: seen}, ["memory: nothing to migrate"]}
    end
  end

  @impl true
  @spec describe(map) :: String.t()
  def describe(_config), do: "memory (nothing is durable)"

  @impl true
  def write(store, _key, ops, tag) do
    # Like the NIF: a bad op refuses the whole write before any is applied.
    Enum.each(ops, &valid!(&1, op?(&1)))

    result =
      case Enum.find_value(ops, &stale(store, &1)) do
        nil -> Enum.each(ops, &apply_op(store, &1))
        fenced -> {:error, {:fenced, fenced}}
      end

    send(self(), {:store_written, tag, result})
    :ok
  end

  # Lease checks come before anything is applied, so a fenced write stores
  # nothing. (Not atomic against other processes' writes: this adapter is
  # for one VM.)
  defp stale(s, {:take_lease, guild, _owner, epoch}), do: check(guild, epoch - 1, lease_epoch(s, guild), 0)
  defp stale(s, {:fence, guild, epoch}), do: check(guild, epoch, lease_epoch(s, guild), nil)
  defp stale(_s, _op), do: nil

  # `unleased` is the epoch a guild without a lease counts as.
  defp check(guild, want, have, unleased) do
    if (have || unleased) != want, do: "guild #{guild}: lease epoch #{want} expected, the store has #{have || "none"}"
  end

  defp lease_epoch(s, guild) do
    case lookup(s, {:lease, 0, guild}) do
      {_owner, epoch} -> epoch
      nil -> nil
    end
  end

  @impl true
  def read(store, query, tag) do
    valid!(query, query?(query))
    send(self(), {:store_read, tag, {:ok, answer(store, query)}})
    :ok
  end

  @tables [:guilds, :channels, :roles, :members, :messages, :settings]

  defp valid!(_term, true), do: :ok
  defp valid!(term, false), do: raise(ArgumentError, "not a store op or query: #{inspect(term, limit: 5)}")

  defp op?({:put, t, s, i, d}), do: t in @tables and is_integer(s) and is_integer(i) and is_binary(d)
  defp op?({:delete, t, s, i}), do: t in @tables and is_integer(s) and is_integer(i)
  defp op?({:delete_scope, t, s}), do: t in @tables and is_integer(s)
  defp op?({:react, c, m, e, u, add}), do: is_integer(c) and is_integer(m) and is_binary(e) and is_integer(u) and is_boolean(add)
  defp op?({:put_meta, k, v}), do: is_binary(k) and is_binary(v)
  defp op?({:take_lease, g, o, e}), do: is_integer(g) and is_binary(o) and is_integer(e)
  defp op?({:fence, g, e}), do: is_integer(g) and is_integer(e)
  defp op?(_), do: false

  defp query?({:rows, t, s}), do: t in @tables and is_integer(s)
  defp query?({:get, t, s, i}), do: t in @tables and is_integer(s) and is_integer(i)
  defp query?({:page, c, p, l}), do: is_integer(c) and is_integer(l) and l > 0 and (p == :latest or match?({k, id} when k in [:before, :after, :around] and is_integer(id), p))
  defp query?({:reactions, c, m}), do: is_integer(c) and is_integer(m)
  defp query?({:meta, k}), do: is_binary(k)
  defp query?({:lease, g}), do: is_integer(g)
  defp query?(_), do: false

  defp apply_op(s, {:put, table, scope, id, data}), do: :ets.insert(s.rows, {{table, scope, id}, data})

  defp apply_op(s, {:delete, table, scope, id}) do
    :ets.delete(s.rows, {table, scope, id})
    if table == :messages, do: unreact(s, {scope, id, :_})
  end

  defp apply_op(s, {:delete_scope, table, scope}) do
    :ets.match_delete(s.rows, {{table, scope, :_}, :_})
    if table == :messages, do: unreact(s, {scope, :_, :_})
  end

  defp apply_op(s, {:react, channel, message, emoji, user, true}) do
    if :ets.insert_new(s.seen, {{channel, message, emoji, user}, true}),
      do: :ets.insert(s.reactions, {{channel, message, :erlang.unique_integer([:monotonic])}, emoji, user})
  end

  defp apply_op(s, {:react, channel, message, emoji, user, false}) do
    :ets.delete(s.seen, {channel, message, emoji, user})
    :ets.match_delete(s.reactions, {{channel, message, :_}, emoji, user})
  end

  defp apply_op(s, {:put_meta, key, value}), do: :ets.insert(s.rows, {{:meta, 0, key}, value})
  defp apply_op(s, {:take_lease, guild, owner, epoch}), do: :ets.insert(s.rows, {{:lease, 0, guild}, {owner, epoch}})
  defp apply_op(_s, {:fence, _guild, _epoch}), do: :ok

  defp unreact(s, key) do
    for {{c, m, _}, e, u} <- :ets.match_object(s.reactions, {key, :_, :_}), do: :ets.delete(s.seen, {c, m, e, u})
    :ets.match_delete(s.reactions, {key, :_, :_})
  end

  defp answer(s, {:rows, table, scope}), do: :ets.select(s.rows, [{{{table, scope, :"$1"}, :"$2"}, [], [{{:"$1", :"$2"}}]}])
  defp answer(s, {:get, table, scope, id}), do: lookup(s, {table, scope, id})
  defp answer(s, {:meta, key}), do: lookup(s, {:meta, 0, key})
  defp answer(s, {:lease, guild}), do: lookup(s, {:lease, 0, guild})
  defp answer(s, {:reactions, channel, message}), do: reactions(s, channel, message, message)

  defp answer(s, {:page, channel, page, limit}) do
    rows = page(s.rows, channel, page, limit)

    case {List.last(rows), List.first(rows)} do
      {{oldest, _}, {newest, _}} -> {rows, reactions(s, channel, oldest, newest)}
      _ -> {[], []}
    end
  end

  defp lookup(s, key) do
    case :ets.lookup(s.rows, key) do
      [{_, data}] -> data
      [] -> nil
    end
  end

  defp reactions(s, channel, from, to) do
    s.reactions
    |> :ets.select([{{{channel, :"$1", :"$2"}, :"$3", :"$4"}, [{:>=, :"$1", from}, {:"=<", :"$1", to}], [{{:"$1", :"$2", :"$3", :"$4"}}]}])
    |> Enum.sort_by(&elem(&1, 1))
    |> Enum.map(fn {m, _seq, e, u} -> {m, e, u} end)
  end

  # Newest first, as the durable stores page.
  defp page(t, c, :latest, limit), do: walk(t, c, &:ets.prev/2, {:messages, c, :end}, limit)
  defp page(t, c, {:before, id}, limit), do: walk(t, c, &:ets.prev/2, {:messages, c, id}, limit)
  defp page(t, c, {:after, id}, limit), do: t |> walk(c, &:ets.next/2, {:messages, c, id}, limit) |> Enum.reverse()

  defp page(t, c, {:around, id}, limit) do
    older = div(limit, 2)
    (t |> walk(c, &:ets.next/2, {:messages, c, id - 1}, limit - older) |> Enum.reverse()) ++ walk(t, c, &:ets.prev/2, {:messages, c, id}, older)
  end

  defp walk(t, c, step, key, n, acc \\ [])
  defp walk(_t, _c, _step, _key, 0, acc), do: Enum.reverse(acc)

  defp walk(t, c, step, key, n, acc) do
    case step.(t, key) do
      {:messages, ^c, id} = next -> walk(t, c, step, next, n - 1, [{id, :ets.lookup_element(t, next, 2)} | acc])
      _ -> Enum.reverse(acc)
    end
  end
end
