defmodule Realtime.Guild.MemberListTest do
  use ExUnit.Case, async: true

  alias Realtime.Guild.MemberList
  alias Realtime.Test.TermGen

  @hoisted %{101 => 5, 102 => 3, 103 => 1}
  @windows [0, 100, 300]

  # The rows computed from scratch: headers and members sorted by key, empty
  # groups left out.
  defp from_scratch(members) do
    keys = Map.values(members)
    groups = keys |> Enum.map(&elem(&1, 0)) |> Enum.frequencies()
    headers = for {rank, _} <- groups, do: {rank, :header, 0}

    (headers ++ keys)
    |> Enum.sort()
    |> Enum.map(fn
      {rank, :header, 0} -> {:group, rank, groups[rank]}
      {_, _, uid} -> {:member, uid}
    end)
  end

  # A client's copy of one window, changed only by the ops it is sent.
  defp apply_op({:insert, i, row}, rows, s), do: rows |> List.insert_at(i - s, row) |> Enum.take(100)
  defp apply_op({:delete, i}, rows, s), do: List.delete_at(rows, i - s)
  defp apply_op({:update, i, row}, rows, s), do: List.replace_at(rows, i - s, row)

  test "clients applying the ops keep exactly the server's rows in their windows" do
    seed = TermGen.seed()
    st = TermGen.new(seed)
    list = MemberList.new("everyone")

    {_st, _list, _members, _copies} =
      Enum.reduce(1..3_000, {st, list, %{}, Map.new(@windows, &{&1, []})}, fn step, {st, list, members, copies} ->
        where = "seed #{seed}, step #{step} (rerun with SEED=#{seed})"
        {uid, st} = TermGen.int(st, 400)
        {op, st} = TermGen.int(st, 10)

        {steps, list, members, st} =
          if op < 2 and Map.has_key?(members, uid) do
            {steps, list} = MemberList.remove(list, uid, @windows)
            {steps, list, Map.delete(members, uid), st}
          else
            {online, st} = TermGen.pick(st, [true, false])
            {roles, st} = TermGen.pick(st, [[], [101], [102, 103], [103], [999]])
            {name, st} = TermGen.pick(st, ["ada", "Bob", "carol", "dave", "éve", "zed"])
            key = MemberList.key(%{user_id: uid, roles: roles}, name, @hoisted, online)
            {steps, list} = MemberList.put(list, uid, key, @windows)
            {steps, list, Map.put(members, uid, key), st}
          end

        truth = from_scratch(members)
        assert MemberList.rows(list, 0, 10_000) == truth, where

        copies =
          Map.new(copies, fn {s, rows} ->
            rows = Enum.reduce(MemberList.ops_for_window(steps, s), rows, &apply_op(&1, &2, s))
            assert rows == Enum.slice(truth, s, 100), "#{where}, window #{s}"
            {s, rows}
          end)

        {st, list, members, copies}
      end)
  end

  test "a list built at once equals one built step by step" do
    pairs = for uid <- 1..500, do: {uid, MemberList.key(%{user_id: uid, roles: Enum.take([101, 102, 103, 7], rem(uid, 5))}, "n#{rem(uid, 37)}", @hoisted, rem(uid, 3) > 0)}
    stepwise = Enum.reduce(pairs, MemberList.new("x"), fn {uid, key}, l -> elem(MemberList.put(l, uid, key, []), 1) end)
    at_once = MemberList.from_members("x", pairs)
    assert MemberList.rows(at_once, 0, 1_000) == MemberList.rows(stepwise, 0, 1_000)
    assert MemberList.counts(at_once) == MemberList.counts(stepwise)
  end

  test "counts and group ids" do
    list = MemberList.new("everyone")
    {_, list} = MemberList.put(list, 1, MemberList.key(%{user_id: 1, roles: [101]}, "a", @hoisted, true), [0])
    {_, list} = MemberList.put(list, 2, MemberList.key(%{user_id: 2, roles: []}, "b", @hoisted, true), [0])
    {_, list} = MemberList.put(list, 3, MemberList.key(%{user_id: 3, roles: [101]}, "c", @hoisted, false), [0])
    assert {3, 2, groups} = MemberList.counts(list)
    assert Enum.map(groups, fn {rank, n} -> {MemberList.group_id(rank, @hoisted), n} end) == [{"101", 1}, {"online", 1}, {"offline", 1}]
    assert MemberList.rows(list, 0, 10) == [{:group, -5, 1}, {:member, 1}, {:group, 1_000_000_000, 1}, {:member, 2}, {:group, 1_000_000_001, 1}, {:member, 3}]
  end
end
