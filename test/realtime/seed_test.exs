defmodule Realtime.SeedTest do
  # Not async: one test sets REALTIME_SEED, which the whole VM reads.
  use ExUnit.Case, async: false

  alias Realtime.Seed
  alias Realtime.Seed.Synthetic

  test "the synthetic dataset is deterministic, and its tokens can be computed from user ids" do
    a = Seed.synthetic(members: 500, guilds: 3, channels: 2)
    assert a == Seed.synthetic(members: 500, guilds: 3, channels: 2)

    [bot | users] = a.users
    assert bot.bot and length(users) == 500
    user = Enum.at(users, 123)
    assert user.id == Synthetic.user_id(123) and user.token == Synthetic.token(user.id) and not user.bot
    # What a load generator computes on its side.
    assert user.token == Base.url_encode64("2000000000000000123", padding: false) <> ".RTsyn0.synthetic-user-token-not-a-secret"
  end

  test "every user is in the first guild and in one other; channels and @everyone are visible" do
    %{guilds: [first | others]} = Seed.synthetic(members: 300, guilds: 4, channels: 3)
    assert map_size(first.members) == 301
    assert Enum.sum(Enum.map(others, &(map_size(&1.members) - 1))) == 300 - length(for i <- 0..299, rem(i, 4) == 0, do: i)
    for g <- [first | others], do: assert(map_size(g.channels) == 3 and g.roles[g.id].name == "@everyone")
    assert Enum.map([first | others], & &1.id) |> Enum.map(&rem(Bitwise.bsr(&1, 22), 4)) |> Enum.uniq() |> length() == 4
  end

  test "REALTIME_SEED-style specs are parsed, and bad ones say what is expected" do
    System.put_env("REALTIME_SEED", "synthetic:members=40,channels=2")
    assert %{users: users, guilds: [g]} = Seed.configured()
    assert length(users) == 41 and map_size(g.channels) == 2
    System.put_env("REALTIME_SEED", "synthetic:people=3")
    assert_raise ArgumentError, ~r/members=N/, &Seed.configured/0
  after
    System.delete_env("REALTIME_SEED")
  end
end
