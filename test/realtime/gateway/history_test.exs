defmodule Realtime.Gateway.HistoryTest do
  @moduledoc "Message history, single messages, reactions and member paging over REST."
  use Realtime.Test.GatewayCase, async: false
  import Bitwise

  alias Realtime.{Guild, JSON}
  alias Realtime.Guild.Placement

  @ada 1_200_000_000_000_000_001
  @reactions 1 <<< 10

  setup do
    on_exit(fn -> restore_guild(@hq) end)
  end

  defp rest(port, method, path, token \\ @demo, body \\ nil),
    do: Client.rest(port, method, "/api/v10" <> path, token, body && JSON.encode(body))

  defp post(port, content), do: elem(rest(port, :post, "/channels/#{@general}/messages", @demo, %{"content" => content}), 2)

  defp ids(port, query) do
    {200, _, messages} = rest(port, :get, "/channels/#{@general}/messages" <> query)
    Enum.map(messages, & &1["id"])
  end

  test "history pages newest first with limit, before, after and around", %{port: port} do
    posted = for i <- 1..12, do: post(port, "message #{i}")["id"]
    newest_first = Enum.reverse(posted)
    [m1, m2, m3, m4, m5 | _] = posted

    assert ids(port, "?limit=5") == Enum.take(newest_first, 5)
    assert Enum.take(ids(port, ""), 12) == newest_first
    assert ids(port, "?before=#{m4}&limit=2") == [m3, m2]
    # After: the nearest ones after the id, still newest first.
    assert ids(port, "?after=#{m2}&limit=3") == [m5, m4, m3]
    # Around: half older, the rest the id itself and newer.
    assert ids(port, "?around=#{m4}&limit=4") == [m5, m4, m3, m2]
    assert ids(port, "?before=#{m1}") |> Enum.all?(&(String.to_integer(&1) < String.to_integer(m1)))

    {200, _, one} = rest(port, :get, "/channels/#{@general}/messages/#{m3}")
    assert one["content"] == "message 3" and one["author"]["id"] == "1000000000000000001"
    assert {404, _, %{"code" => 10_008}} = rest(port, :get, "/channels/#{@announcements}/messages/#{m3}")
  end

  test "bad query parameters get a 400 naming the field", %{port: port} do
    for {q, field} <- [{"limit=abc", "limit"}, {"limit=0", "limit"}, {"limit=1000", "limit"}, {"before=-1", "before"}, {"after=1.5", "after"}, {"around=%FF", "around"}] do
      assert {400, _, %{"code" => 50_035, "errors" => errors}} = rest(port, :get, "/channels/#{@general}/messages?#{q}")
      assert Map.keys(errors) == [field], q
    end

    assert {400, _, %{"errors" => %{"limit" => _}}} = rest(port, :get, "/guilds/#{@hq}/members?limit=1001")
    assert {400, _, %{"errors" => %{"after" => _}}} = rest(port, :get, "/guilds/#{@hq}/members?after=me")
    # The gateway is still serving everyone.
    assert {200, _, _} = rest(port, :get, "/channels/#{@general}/messages?limit=1")
  end

  test "reading history needs VIEW_CHANNEL; without READ_MESSAGE_HISTORY the page is empty", %{port: port} do
    post(port, "visible")
    assert {403, _, %{"code" => 50_001}} = rest(port, :get, "/channels/#{@staff}/messages")

    # Take READ_MESSAGE_HISTORY from @everyone (the limited bot has no roles).
    {:ok, hq} = Placement.lookup(@hq)
    :ok = Guild.update_role_permissions(hq, @hq, 2_217_856_064 &&& bnot(1 <<< 16))
    assert {200, _, []} = rest(port, :get, "/channels/#{@general}/messages", @limited)
    # An administrator still reads it.
    {:ok, [%{"id" => id, "content" => "visible"}]} = Guild.messages(hq, @general, @ada, :latest, 1)
    assert {403, _, %{"code" => 50_013}} = rest(port, :get, "/channels/#{@general}/messages/#{id}", @limited)
  end

  test "apps without MESSAGE_CONTENT read empty content, except their own and their mentions", %{port: port} do
    plain = post(port, "secret plans")
    mention = post(port, "hey <@1000000000000000002>")
    {200, _, own} = rest(port, :post, "/channels/#{@general}/messages", @limited, %{"content" => "mine"})

    read = fn id -> elem(rest(port, :get, "/channels/#{@general}/messages/#{id}", @limited), 2)["content"] end
    assert read.(plain["id"]) == ""
    assert read.(mention["id"]) == "hey <@1000000000000000002>"
    assert read.(own["id"]) == "mine"
    assert elem(rest(port, :get, "/channels/#{@general}/messages/#{plain["id"]}"), 2)["content"] == "secret plans"
  end

  test "mentions are resolved; @everyone needs MENTION_EVERYONE", %{port: port} do
    m = post(port, "<@#{@ada}> <@42> <@&1100000000000000012> @everyone")
    assert [%{"id" => "1200000000000000001"}] = m["mentions"]
    assert m["mention_roles"] == ["1100000000000000012"]
    # The demo bot's roles do not grant MENTION_EVERYONE.
    assert m["mention_everyone"] == false
    {:ok, hq} = Placement.lookup(@hq)
    {:ok, by_admin} = Guild.create_message(hq, @general, @ada, "@everyone hello")
    assert by_admin["mention_everyone"] == true
  end

  test "reactions: events to sessions with GUILD_MESSAGE_REACTIONS, counts and me per reader", %{port: port} do
    c = Client.connect(port)
    ready = Client.identify(c, @demo, %{"intents" => 1 ||| @reactions})
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(c, "GUILD_CREATE")
    blind = Client.connect(port)
    Client.identify(blind, @demo, %{"intents" => 1})
    for _ <- ready["d"]["guilds"], do: Client.await_dispatch(blind, "GUILD_CREATE")

    m = post(port, "react to me")
    path = "/channels/#{@general}/messages/#{m["id"]}/reactions/%F0%9F%8E%89/@me"
    assert {204, _, nil} = rest(port, :put, path)
    add = Client.await_dispatch(c, "MESSAGE_REACTION_ADD")["d"]
    assert add["emoji"] == %{"id" => nil, "name" => "🎉"} and add["user_id"] == "1000000000000000001"
    assert add["message_id"] == m["id"] and add["member"]["user"]["id"] == "1000000000000000001"
    assert add["message_author_id"] == "1000000000000000001"

    assert {204, _, nil} = rest(port, :put, path, @limited)
    assert Client.await_dispatch(c, "MESSAGE_REACTION_ADD")["d"]["user_id"] == "1000000000000000002"
    # Reacting twice is a no-op.
    assert {204, _, nil} = rest(port, :put, path, @limited)

    {200, _, seen} = rest(port, :get, "/channels/#{@general}/messages/#{m["id"]}")
    assert [%{"emoji" => %{"name" => "🎉"}, "count" => 2, "me" => true}] = seen["reactions"]

    assert {204, _, nil} = rest(port, :delete, path)
    remove = Client.await_dispatch(c, "MESSAGE_REACTION_REMOVE")["d"]
    assert remove["user_id"] == "1000000000000000001" and remove["emoji"]["name"] == "🎉"
    {200, _, seen} = rest(port, :get, "/channels/#{@general}/messages/#{m["id"]}")
    assert [%{"count" => 1, "me" => false}] = seen["reactions"]
    assert Client.silent?(blind, 100)

    assert {400, _, %{"code" => 10_014}} = rest(port, :put, String.replace(path, "%F0%9F%8E%89", "notanemoji"))
    assert {400, _, %{"code" => 10_014}} = rest(port, :put, String.replace(path, "%F0%9F%8E%89", "party:123"))
  end

  test "a new reaction needs ADD_REACTIONS; joining an existing one does not", %{port: port} do
    m = post(port, "permissions")
    path = "/channels/#{@general}/messages/#{m["id"]}/reactions/%F0%9F%91%8D/@me"
    {:ok, hq} = Placement.lookup(@hq)
    :ok = Guild.update_role_permissions(hq, @hq, 2_217_856_064 &&& bnot(1 <<< 6))
    assert {403, _, %{"code" => 50_013}} = rest(port, :put, path, @limited)
    # An administrator reacts first; then anyone who reads history may join.
    :ok = Guild.add_reaction(hq, @general, String.to_integer(m["id"]), @ada, %{"id" => nil, "name" => "👍"})
    assert {204, _, nil} = rest(port, :put, path, @limited)
    {200, _, seen} = rest(port, :get, "/channels/#{@general}/messages/#{m["id"]}", @limited)
    assert [%{"count" => 2, "me" => true}] = seen["reactions"]
  end

  test "members page in id order after an id, up to the limit; one member by id", %{port: port} do
    {200, _, first} = rest(port, :get, "/guilds/#{@hq}/members?limit=3")
    ids = Enum.map(first, &String.to_integer(&1["user"]["id"]))
    assert ids == Enum.sort(ids) and length(ids) == 3
    {200, _, next} = rest(port, :get, "/guilds/#{@hq}/members?limit=1000&after=#{List.last(ids)}")
    next_ids = Enum.map(next, &String.to_integer(&1["user"]["id"]))
    assert length(next_ids) == 1000 and hd(next_ids) > List.last(ids) and next_ids == Enum.sort(next_ids)
    {200, _, rest_ids} = rest(port, :get, "/guilds/#{@hq}/members?limit=1000&after=#{List.last(next_ids)}")
    assert length(ids ++ next_ids ++ rest_ids) == 1204
    assert {200, _, [_]} = rest(port, :get, "/guilds/#{@hq}/members")

    {200, _, ada} = rest(port, :get, "/guilds/#{@hq}/members/#{@ada}")
    assert ada["user"]["username"] == "ada" and ada["roles"] == ["1100000000000000011"]
    assert {404, _, %{"code" => 10_007}} = rest(port, :get, "/guilds/#{@hq}/members/77")
    # Listing needs the GUILD_MEMBERS privileged intent.
    assert {403, _, %{"code" => 50_001}} = rest(port, :get, "/guilds/#{@hq}/members", @limited)
    assert {200, _, %{"user" => %{"id" => "1200000000000000001"}}} = rest(port, :get, "/guilds/#{@hq}/members/#{@ada}", @limited)
  end

  test "guild, channels and roles; members only, with counts on request", %{port: port} do
    {200, _, g} = rest(port, :get, "/guilds/#{@hq}")
    assert g["name"] == "Realtime HQ" and length(g["roles"]) == 5 and not Map.has_key?(g, "approximate_member_count")
    {200, _, g} = rest(port, :get, "/guilds/#{@hq}?with_counts=true")
    assert g["approximate_member_count"] == 1204 and is_integer(g["approximate_presence_count"])
    {200, _, channels} = rest(port, :get, "/guilds/#{@hq}/channels")
    assert Enum.map(channels, & &1["name"]) == ["Text Channels", "general", "announcements", "staff", "Lounge"]
    assert %{"bitrate" => 64_000} = Enum.find(channels, &(&1["type"] == 2))
    refute Map.has_key?(Enum.find(channels, &(&1["type"] == 0)), "bitrate")
    {200, _, roles} = rest(port, :get, "/guilds/#{@hq}/roles")
    assert Enum.map(roles, & &1["name"]) == ["@everyone", "Bots", "Regular", "Moderator", "Admin"]
    assert {404, _, %{"code" => 10_004}} = rest(port, :get, "/guilds/123")
    assert {404, _, %{"code" => 10_004}} = rest(port, :get, "/guilds/abc/roles")
  end
end
