defmodule Realtime.Guild.HandoverTest do
  use ExUnit.Case, async: true
  import Bitwise

  alias Realtime.Bitmap
  alias Realtime.Guild.State

  @hq 1_100_000_000_000_000_001
  @general 1_100_000_000_000_000_101
  @demo 1_000_000_000_000_000_001
  @limited 1_000_000_000_000_000_002

  # Stands in for a session: passes on what the guild sends it.
  defp session do
    test = self()
    spawn(fn -> Stream.repeatedly(fn -> receive(do: (m -> send(test, {:to_session, self(), m}))) end) |> Stream.run() end)
  end

  defp drain do
    receive do
      {:to_session, _, _} -> drain()
    after
      100 -> :ok
    end
  end

  test "a guild's handover gives its successor the same sessions, encodings, windows and presences, silently" do
    guild = Enum.find(Realtime.Seed.configured().guilds, &(&1.id == @hq))
    [a, b] = [session(), session()]
    {:ok, _, old} = State.subscribe(State.new(guild), a, @demo, 1 ||| 512, encoding: :etf)
    {:ok, _, old} = State.subscribe(old, b, @limited, 1, encoding: :json)
    old = State.subscribe_lists(old, a, %{@general => [[0, 99]]})
    old = Realtime.Guild.Presence.update(old, @limited, %{"status" => "idle", "activities" => []})

    Realtime.Fanout.sync()
    drain()
    handover = State.handover(old)
    # The successor starts from the store (here: the same guild data), then adopts.
    new = State.adopt(State.new(guild), handover)

    describe = fn state ->
      for {slot, %{session: s, user_id: u, intents: i}} <- state.slots, into: %{} do
        {s, {u, i, Bitmap.member?(state.etf, slot), Bitmap.member?(state.connected, slot)}}
      end
    end

    assert describe.(new) == describe.(old)
    assert new.presences == old.presences
    assert new.lazy.subs == old.lazy.subs
    assert new.by_session |> Map.keys() |> Enum.sort() == Enum.sort([a, b])
    # Adopting sent the sessions nothing: no GUILD_CREATE, no list SYNC.
    Realtime.Fanout.sync()
    refute_receive {:to_session, _, _}, 200
  end
end
