defmodule Realtime.Guild.MessagesTest do
  use ExUnit.Case, async: true

  alias Realtime.Guild.Messages
  alias Realtime.Test.TermGen

  @channels [10, 20, 30]

  # The model: per channel, the ids kept, newest first; pages computed from
  # the whole list.
  defp model_page(ids, :latest, limit), do: Enum.take(ids, limit)
  defp model_page(ids, {:before, x}, limit), do: ids |> Enum.filter(&(&1 < x)) |> Enum.take(limit)
  defp model_page(ids, {:after, x}, limit), do: ids |> Enum.filter(&(&1 > x)) |> Enum.take(-limit)

  defp model_page(ids, {:around, x}, limit) do
    older = div(limit, 2)
    Enum.take(Enum.filter(ids, &(&1 >= x)), -(limit - older)) ++ Enum.take(Enum.filter(ids, &(&1 < x)), older)
  end

  test "puts, deletes, the cap and every kind of page agree with a model (seeded)" do
    seed = TermGen.seed()
    st = TermGen.new(seed)
    history = Messages.new(25)

    {_, model, _} =
      Enum.reduce(1..3_000, {st, Map.new(@channels, &{&1, []}), 1}, fn step, {st, model, next_id} ->
        {cid, st} = TermGen.pick(st, @channels)
        {op, st} = TermGen.int(st, 10)
        {x, st} = TermGen.int(st, next_id + 2)
        {limit, st} = TermGen.int(st, 30)
        limit = limit + 1

        {model, next_id} =
          cond do
            op < 6 ->
              Messages.put(history, %{id: next_id, channel_id: cid})
              {Map.update!(model, cid, &Enum.take([next_id | &1], 25)), next_id + 1}

            op < 7 ->
              Messages.delete(history, cid, x)
              {Map.update!(model, cid, &List.delete(&1, x)), next_id}

            true ->
              {model, next_id}
          end

        ids = model[cid]

        for page <- [:latest, {:before, x}, {:after, x}, {:around, x}] do
          got = history |> Messages.page(cid, page, limit) |> Enum.map(& &1.id)
          assert got == model_page(ids, page, limit), "seed #{seed}, step #{step}: #{inspect(page)} limit #{limit} in #{cid}"
        end

        assert Messages.last_id(history, cid) == List.first(ids), "seed #{seed}, step #{step}"
        assert Messages.fetch(history, cid, x) == if(x in ids, do: {:ok, %{id: x, channel_id: cid}}, else: :error)
        {st, model, next_id}
      end)

    Messages.delete_channel(history, 20)
    assert Messages.page(history, 20, :latest, 100) == []
    assert length(Messages.page(history, 10, :latest, 100)) == length(model[10])
  end

  test "an edit replaces a message in place" do
    h = Messages.new(5)
    Messages.put(h, %{id: 1, channel_id: 1, content: "a"})
    Messages.put(h, %{id: 1, channel_id: 1, content: "b"})
    assert [%{content: "b"}] = Messages.page(h, 1, :latest, 10)
    for id <- 2..6, do: Messages.put(h, %{id: id, channel_id: 1, content: "x"})
    assert h |> Messages.page(1, :latest, 10) |> Enum.map(& &1.id) == [6, 5, 4, 3, 2]
  end
end
