defmodule Realtime.Guild.MessageCacheTest do
  use ExUnit.Case, async: true

  alias Realtime.Guild.MessageCache, as: Cache
  alias Realtime.Test.TermGen

  @channels [10, 20, 30]

  # The model is the whole history (what the store holds), newest first;
  # pages are computed from it.
  defp model_page(ids, :latest, limit), do: Enum.take(ids, limit)
  defp model_page(ids, {:before, x}, limit), do: ids |> Enum.filter(&(&1 < x)) |> Enum.take(limit)
  defp model_page(ids, {:after, x}, limit), do: ids |> Enum.filter(&(&1 > x)) |> Enum.take(-limit)

  test "whatever page the cache answers is the page the whole history gives (seeded)" do
    seed = TermGen.seed()
    st = TermGen.new(seed)
    cache = Cache.new(8)
    history = Map.new(@channels, &{&1, []})
    # One channel starts with history the cache has not seen, then is filled.
    old = Enum.to_list(50..1//-1)
    history = Map.put(history, 30, old)
    Cache.fill(cache, 30, for(id <- Enum.take(old, 8), do: %{id: id, channel_id: 30}))

    {_, _, hits} =
      Enum.reduce(1..3_000, {st, history, 0}, fn step, {st, history, hits} ->
        {cid, st} = TermGen.pick(st, @channels)
        {op, st} = TermGen.int(st, 10)
        next = 100 + step
        {x, st} = TermGen.int(st, next + 2)
        {limit, st} = TermGen.int(st, 10)
        limit = limit + 1

        history =
          cond do
            op < 6 ->
              Cache.put_new(cache, %{id: next, channel_id: cid})
              Map.update!(history, cid, &[next | &1])

            op < 7 ->
              Cache.delete(cache, cid, x)
              Map.update!(history, cid, &List.delete(&1, x))

            true ->
              history
          end

        ids = history[cid]

        hits =
          Enum.reduce([:latest, {:before, x}, {:after, x}], hits, fn page, hits ->
            case Cache.page(cache, cid, page, limit) do
              {:ok, msgs} ->
                assert Enum.map(msgs, & &1.id) == model_page(ids, page, limit), "seed #{seed}, step #{step}: #{inspect(page)} limit #{limit} in #{cid}"
                hits + 1

              :miss ->
                hits
            end
          end)

        assert Cache.last_id(cache, cid) in [List.first(ids), nil], "seed #{seed}, step #{step}"
        {st, history, hits}
      end)

    # The cache answered a good share of the pages, not none.
    assert hits > 1_000, "seed #{seed}: #{hits} hits"
  end

  test "edits replace only what is cached; a channel is forgotten whole" do
    c = Cache.new(3)
    for id <- 1..5, do: Cache.put_new(c, %{id: id, channel_id: 1, content: "x"})
    assert {:ok, [%{id: 5}, %{id: 4}, %{id: 3}]} = Cache.page(c, 1, :latest, 3)
    assert Cache.page(c, 1, :latest, 4) == :miss
    Cache.update(c, %{id: 4, channel_id: 1, content: "edited"})
    Cache.update(c, %{id: 1, channel_id: 1, content: "evicted stays out"})
    assert {:ok, %{content: "edited"}} = Cache.fetch(c, 1, 4)
    assert Cache.fetch(c, 1, 1) == :error
    assert Cache.page(c, 1, {:around, 4}, 2) == :miss
    Cache.delete_channel(c, 1)
    assert Cache.last_id(c, 1) == nil
  end
end
