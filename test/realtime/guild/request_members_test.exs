defmodule Realtime.Guild.RequestMembersTest do
  # Not async: adds users to the shared directory.
  use ExUnit.Case, async: false
  import Bitwise

  alias Realtime.{Fanout, JSON}
  alias Realtime.Guild.State

  @guild_id 9_100_000_000_000_000_001
  @first 9_200_000_000_000_000_001
  @count 5_000

  setup_all do
    users = for i <- 0..(@count - 1), do: %{id: @first + i, username: "chunky#{i}", global_name: nil, bot: false, token: nil, privileged_intents: []}
    :ets.insert(Realtime.Directory, for(u <- users, do: {{:user, u.id}, u}))

    guild = %{
      id: @guild_id,
      name: "Five Thousand",
      owner_id: @first,
      roles: %{@guild_id => %{id: @guild_id, name: "@everyone", permissions: 1024, position: 0, hoist: false, color: 0}},
      channels: %{},
      members: Map.new(users, &{&1.id, %{user_id: &1.id, roles: [], nick: nil, joined_at: "2024-01-01T00:00:00.000000+00:00"}})
    }

    {:ok, guild: guild}
  end

  # This test process stands in for a session: chunks arrive as dispatches.
  defp chunks(n) do
    Fanout.sync()

    for _ <- 1..n do
      receive do
        {:gateway_dispatch, "GUILD_MEMBERS_CHUNK", {:encoded, %{json: json}}} -> elem(JSON.decode(json), 1)
      after
        5_000 -> flunk("missing chunk")
      end
    end
  end

  test "op 8 at 5,000 members: five chunks of 1,000, in order, with the nonce", %{guild: guild} do
    {:ok, _, state} = State.subscribe(State.new(guild), self(), @first, 513 ||| 2)
    Realtime.Guild.Members.request(state, self(), %{query: "", limit: 0, nonce: "all"})
    got = chunks(5)
    assert Enum.map(got, & &1["chunk_index"]) == [0, 1, 2, 3, 4]
    assert Enum.all?(got, &(&1["chunk_count"] == 5 and &1["nonce"] == "all" and length(&1["members"]) == 1_000))
    ids = got |> Enum.flat_map(& &1["members"]) |> Enum.map(& &1["user"]["id"])
    assert length(Enum.uniq(ids)) == 5_000
    refute_received {:gateway_dispatch, _, _}
  end

  test "by user ids: found ones in one chunk, the rest in not_found", %{guild: guild} do
    {:ok, _, state} = State.subscribe(State.new(guild), self(), @first, 513 ||| 2)
    wanted = [@first + 10, @first + 4_999, 42, @first + 5_000]
    Realtime.Guild.Members.request(state, self(), %{user_ids: wanted, nonce: nil})
    [chunk] = chunks(1)
    assert Enum.map(chunk["members"], & &1["user"]["id"]) == Enum.map([@first + 10, @first + 4_999], &to_string/1)
    assert chunk["not_found"] == ["42", to_string(@first + 5_000)]
    assert chunk["chunk_count"] == 1
  end

  test "by query and limit", %{guild: guild} do
    {:ok, _, state} = State.subscribe(State.new(guild), self(), @first, 513 ||| 2)
    Realtime.Guild.Members.request(state, self(), %{query: "chunky12", limit: 0, nonce: nil})
    [chunk] = chunks(1)
    # chunky12, chunky120..129, chunky1200..1299
    assert length(chunk["members"]) == 111
    Realtime.Guild.Members.request(state, self(), %{query: "CHUNKY12", limit: 7, nonce: nil})
    assert [%{"members" => members}] = chunks(1)
    assert length(members) == 7
  end
end
