defmodule Realtime.Test.StoreContract do
  @moduledoc """
  The contract every `Realtime.Store` adapter keeps, as one ExUnit case
  module parameterised by adapter:

      use Realtime.Test.StoreContract, open: &MyTest.open/1

  where `open.(name)` opens a fresh, empty store of the adapter under test
  and returns `{handle, reopen}`, `reopen.()` opening the same store again.
  """

  defmacro __using__(opts) do
    quote do
      use ExUnit.Case, async: false

      alias Realtime.Store
      alias Realtime.Test.TermGen

      @open unquote(opts[:open])

      defp fresh(name), do: @open.(name)

      defp put(table, scope, id, value), do: {:put, table, scope, id, value}

      test "a store is migrated once, and keeps what it acknowledged across a reopen" do
        {s, reopen} = fresh("reopen")
        :ok = Store.write(s, 1, [put(:roles, 1, 10, "a"), put(:roles, 1, 20, "b"), {:put_meta, "seeded", "1"}])
        {s2, migrations} = reopen.()
        assert migrations == []
        assert Store.read(s2, {:rows, :roles, 1}) == {:ok, [{10, "a"}, {20, "b"}]}
        assert Store.read(s2, {:meta, "seeded"}) == {:ok, "1"}
        assert Store.read(s, {:get, :roles, 1, 30}) == {:ok, nil}
      end

      test "rows are replaced and deleted; a scope is deleted with its reactions" do
        {s, _} = fresh("rows")
        :ok = Store.write(s, 1, [put(:messages, 5, 1, "one"), put(:messages, 5, 2, "two"), {:react, 5, 1, "👍", 9, true}])
        :ok = Store.write(s, 1, [put(:messages, 5, 1, "uno"), {:delete, :messages, 5, 2}])
        assert Store.read(s, {:page, 5, :latest, 10}) == {:ok, {[{1, "uno"}], [{1, "👍", 9}]}}
        :ok = Store.write(s, 1, [{:delete_scope, :messages, 5}])
        assert Store.read(s, {:page, 5, :latest, 10}) == {:ok, {[], []}}
        assert Store.read(s, {:reactions, 5, 1}) == {:ok, []}
        # Within one write, ops apply in order: a key written twice keeps the last.
        :ok = Store.write(s, 1, [put(:roles, 1, 1, "a"), put(:roles, 1, 2, "x"), put(:roles, 1, 1, "b"), {:delete, :roles, 1, 2}])
        assert Store.read(s, {:rows, :roles, 1}) == {:ok, [{1, "b"}]}
      end

      test "pages agree with a model of the channel (seeded)" do
        {s, _} = fresh("pages")
        seed = TermGen.seed()
        st = TermGen.new(seed)
        ids = Enum.to_list(1..300) |> Enum.map(&(&1 * 3))
        :ok = Store.write(s, 1, for(id <- ids, do: put(:messages, 7, id, Integer.to_string(id))))
        newest = Enum.reverse(ids)

        Enum.reduce(1..200, st, fn step, st ->
          {x, st} = TermGen.int(st, 1_000)
          {limit, st} = TermGen.int(st, 100)
          limit = limit + 1
          older = div(limit, 2)

          model = %{
            :latest => Enum.take(newest, limit),
            {:before, x} => newest |> Enum.filter(&(&1 < x)) |> Enum.take(limit),
            {:after, x} => newest |> Enum.filter(&(&1 > x)) |> Enum.take(-limit),
            {:around, x} =>
              Enum.take(Enum.filter(newest, &(&1 >= x)), -(limit - older)) ++ Enum.take(Enum.filter(newest, &(&1 < x)), older)
          }

          for {page, want} <- model do
            {:ok, {rows, []}} = Store.read(s, {:page, 7, page, limit})
            assert Enum.map(rows, &elem(&1, 0)) == want, "seed #{seed}, step #{step}: #{inspect(page)} limit #{limit}"
          end

          st
        end)
      end

      test "reactions come back in the order they were first made, once per user" do
        {s, _} = fresh("reactions")
        react = fn emoji, user, add -> {:react, 3, 30, emoji, user, add} end
        :ok = Store.write(s, 1, [put(:messages, 3, 30, "m"), react.("🎉", 1, true), react.("👍", 2, true), react.("🎉", 2, true)])
        :ok = Store.write(s, 1, [react.("🎉", 1, true), react.("👍", 2, false)])
        assert Store.read(s, {:reactions, 3, 30}) == {:ok, [{30, "🎉", 1}, {30, "🎉", 2}]}
      end

      test "100 concurrent writers are all acknowledged, stored, and in order per key" do
        {s, _} = fresh("concurrent")

        results =
          1..100
          |> Task.async_stream(
            fn w -> for i <- 1..20, do: Store.write(s, w, [put(:messages, w, i, "w#{w}-#{i}")]) end,
            max_concurrency: 100,
            timeout: 60_000
          )
          |> Enum.flat_map(fn {:ok, r} -> r end)

        assert Enum.all?(results, &(&1 == :ok))

        for w <- [1, 50, 100] do
          {:ok, {rows, _}} = Store.read(s, {:page, w, :latest, 100})
          assert Enum.map(rows, &elem(&1, 1)) == for(i <- 20..1//-1, do: "w#{w}-#{i}")
        end
      end

      test "many ops in one write are one transaction; bad ops are refused before anything is queued" do
        {s, _} = fresh("batch")
        ops = for i <- 1..5_000, do: put(:members, 9, i, String.duplicate("x", 100))
        assert Store.write(s, 9, ops) == :ok
        {:ok, rows} = Store.read(s, {:rows, :members, 9})
        assert length(rows) == 5_000
        assert_raise ArgumentError, fn -> Store.write(s, 9, [put(:members, 9, 1, "ok"), {:put, :nowhere, 1, 1, "x"}]) end
        assert_raise ArgumentError, fn -> Store.read(s, {:page, 9, :sideways, 1}) end
        assert Store.read(s, {:get, :members, 9, 1}) == {:ok, String.duplicate("x", 100)}
      end

      test "a lease is taken by compare-and-set, and a write with a stale epoch stores nothing" do
        {s, _} = fresh("lease")
        assert Store.read(s, {:lease, 77}) == {:ok, nil}
        assert {:error, {:fenced, _}} = Store.write(s, 77, [{:take_lease, 77, "b@h", 2}])
        :ok = Store.write(s, 77, [{:take_lease, 77, "a@h", 1}])
        :ok = Store.write(s, 77, [{:fence, 77, 1}, put(:messages, 77, 1, "by a")])

        # b takes over; a, unaware, keeps writing with epoch 1.
        :ok = Store.write(s, 77, [{:take_lease, 77, "b@h", 2}])
        assert Store.read(s, {:lease, 77}) == {:ok, {"b@h", 2}}
        assert {:error, {:fenced, message}} = Store.write(s, 77, [{:fence, 77, 1}, put(:messages, 77, 2, "late a"), {:delete, :messages, 77, 1}])
        assert message =~ "77" and message =~ "epoch 1"
        assert {:error, {:fenced, _}} = Store.write(s, 77, [{:take_lease, 77, "a@h", 2}])
        assert {:error, {:fenced, _}} = Store.write(s, 5, [{:fence, 5, 1}])
        :ok = Store.write(s, 77, [{:fence, 77, 2}, put(:messages, 77, 3, "by b")])
        assert {:ok, {rows, _}} = Store.read(s, {:page, 77, :latest, 10})
        assert rows == [{3, "by b"}, {1, "by a"}]
      end

      test "of many nodes racing for the next epoch exactly one wins, and a fenced write fails alone" do
        {s, _} = fresh("lease_race")
        :ok = Store.write(s, 1, [{:take_lease, 1, "n0", 1}])

        winners =
          1..24
          |> Task.async_stream(fn n -> {n, Store.write(s, n, [{:take_lease, 1, "n#{n}", 2}])} end, max_concurrency: 24, timeout: 30_000)
          |> Enum.filter(&match?({:ok, {_, :ok}}, &1))
          |> Enum.map(fn {:ok, {n, :ok}} -> "n#{n}" end)

        assert [winner] = winners
        assert Store.read(s, {:lease, 1}) == {:ok, {winner, 2}}

        # Stale and current owners of different guilds write at once: only
        # the stale writes fail, whether or not they shared a commit.
        for g <- 100..119, do: :ok = Store.write(s, g, [{:take_lease, g, "x", 1}])

        results =
          100..119
          |> Enum.flat_map(fn g -> [{g, 1, true}, {g, 0, false}] end)
          |> Task.async_stream(fn {g, epoch, ok?} -> {ok?, Store.write(s, g, [{:fence, g, epoch}, put(:messages, g, epoch, "e#{epoch}")])} end,
            max_concurrency: 40,
            timeout: 30_000
          )
          |> Enum.map(fn {:ok, r} -> r end)

        for {ok?, result} <- results, do: if(ok?, do: assert(result == :ok), else: assert({:error, {:fenced, _}} = result))
        for g <- 100..119, do: assert(Store.read(s, {:page, g, :latest, 5}) == {:ok, {[{1, "e1"}], []}})
      end
    end
  end
end
