defmodule Realtime.Guild.MentionsTest do
  use ExUnit.Case, async: true

  alias Realtime.Guild.Mentions

  test "users, roles and everyone, once each, in order" do
    assert Mentions.parse("<@2> hi <@!1> <@&9> <@2> @here") == %{users: [2, 1], roles: [9], everyone: true}
    assert Mentions.parse("no mentions, <@x> or <@&> or @every one") == %{users: [], roles: [], everyone: false}
  end

  test "resolving keeps members and roles that exist, and everyone only when allowed" do
    guild = %{members: %{1 => %{}}, roles: %{9 => %{}}}
    m = Mentions.parse("<@1> <@2> <@&9> <@&8> @everyone")
    assert Mentions.resolve(m, guild, true) == %{users: [1], roles: [9], everyone: true}
    assert Mentions.resolve(m, guild, false).everyone == false
  end
end
