defmodule Realtime.Guild.Rows do
  @moduledoc """
  How a guild is kept in `Realtime.Store`: the ops that write its parts and
  the reads that bring it back. The one place that knows the layout.

    * `:guilds` - scope 0, one row per guild: `%{id, name, owner_id}`
    * `:channels`, `:roles`, `:members` - scope the guild id, one row per
      channel, role (by id) and member (by user id), each the guild's own map
    * `:messages` - scope the channel id, one row per message, without its
      reactions, which are their own rows (`{:react, ...}` ops)

  Values are Erlang terms (`:erlang.term_to_binary/1`), read back with
  `binary_to_term(_, [:safe])`, so a damaged row cannot create atoms.

  The seed dataset is imported once, on the first start, in one
  transaction with the `seeded` mark: a crash during the import leaves
  nothing, and the next start imports again. After that the store is the
  record, and the seed file is not read for guilds.
  """

  alias Realtime.Store

  @parts [:channels, :roles, :members]

  @doc "The op that stores `value` as row `id` of `scope` in `table`."
  @spec put(Store.table(), integer, integer, term) :: Store.op()
  def put(table, scope, id, value), do: {:put, table, scope, id, :erlang.term_to_binary(value)}

  @doc "The op that deletes row `id` of `scope` in `table`."
  @spec delete(Store.table(), integer, integer) :: Store.op()
  def delete(table, scope, id), do: {:delete, table, scope, id}

  @doc "The ops that store a whole guild (`%{id, name, owner_id, channels, roles, members}`)."
  @spec guild(map) :: [Store.op()]
  def guild(g) do
    [put(:guilds, 0, g.id, Map.take(g, [:id, :name, :owner_id]))] ++
      for part <- @parts, {id, value} <- Map.fetch!(g, part), do: put(part, g.id, id, value)
  end

  @doc "The op that stores a message (its reactions are rows of their own)."
  @spec message(map) :: Store.op()
  def message(msg), do: put(:messages, msg.channel_id, msg.id, Map.delete(msg, :reactions))

  @doc """
  Imports `guilds` unless the store was seeded before, in one transaction
  with the mark. Returns `:ok` or the store's error.
  """
  @spec import_once(Store.handle(), [map]) :: :ok | {:error, Store.reason()}
  def import_once(store, guilds) do
    case Store.read(store, {:meta, "seeded"}) do
      {:ok, nil} -> Store.write(store, 0, Enum.flat_map(guilds, &guild/1) ++ [{:put_meta, "seeded", "1"}])
      {:ok, _} -> :ok
      error -> error
    end
  end

  @doc "The ids of the stored guilds."
  @spec guild_ids(Store.handle()) :: {:ok, [integer]} | {:error, Store.reason()}
  def guild_ids(store) do
    with {:ok, rows} <- Store.read(store, {:rows, :guilds, 0}), do: {:ok, Enum.map(rows, &elem(&1, 0))}
  end

  @doc "Guild `id` as the store has it, in the shape `Realtime.Seed` gives."
  @spec load(Store.handle(), integer) :: {:ok, map} | {:error, Store.reason() | :not_found}
  def load(store, id) do
    with {:ok, row} when row != nil <- Store.read(store, {:get, :guilds, 0, id}) do
      Enum.reduce_while(@parts, {:ok, decode(row)}, fn part, {:ok, g} ->
        case Store.read(store, {:rows, part, id}) do
          {:ok, rows} -> {:cont, {:ok, Map.put(g, part, Map.new(rows, fn {rid, data} -> {rid, decode(data)} end))}}
          error -> {:halt, error}
        end
      end)
    else
      {:ok, nil} -> {:error, :not_found}
      error -> error
    end
  end

  @doc """
  Messages from a page read (`{rows, reaction_rows}`), newest first, each
  with its reactions as `[{emoji, MapSet of user ids}]` in first-reaction
  order.
  """
  @spec messages({[{integer, binary}], [{integer, String.t(), integer}]}) :: [map]
  def messages({rows, reaction_rows}) do
    by_message = Enum.group_by(reaction_rows, &elem(&1, 0), &Tuple.delete_at(&1, 0))
    for {id, data} <- rows, do: Map.put(decode(data), :reactions, reactions(Map.get(by_message, id, [])))
  end

  @doc "Reactions as `[{emoji, MapSet of user ids}]`, from `{emoji, user}` rows in the order made."
  @spec reactions([{String.t(), integer}]) :: [{map, MapSet.t()}]
  def reactions(rows) do
    rows
    |> Enum.reduce({[], %{}}, fn {emoji, user}, {order, users} ->
      order = if Map.has_key?(users, emoji), do: order, else: [emoji | order]
      {order, Map.update(users, emoji, MapSet.new([user]), &MapSet.put(&1, user))}
    end)
    |> then(fn {order, users} -> for e <- Enum.reverse(order), do: {%{"id" => nil, "name" => e}, users[e]} end)
  end

  @doc "A stored value."
  @spec decode(binary) :: term
  def decode(data), do: :erlang.binary_to_term(data, [:safe])
end
