defmodule Realtime.Gateway.Rest.RoutesTest do
  use ExUnit.Case, async: true

  alias Realtime.Gateway.Rest.{Params, Routes}

  @spec_path Path.expand("../../../fixtures/discord-api-spec/discord-openapi.json", __DIR__)

  test "paths match their templates, with parameters by name" do
    assert {:ok, %{template: "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me", auth: :bot},
            %{"channel_id" => "1", "message_id" => "2", "emoji_name" => "👍"}} =
             Routes.match("PUT", ["channels", "1", "messages", "2", "reactions", "👍", "@me"])

    assert {:ok, %{template: "/gateway", auth: :public}, %{}} = Routes.match("GET", ["gateway"])
    assert Routes.match("POST", ["gateway"]) == {:error, :method_not_allowed}
    assert Routes.match("GET", ["channels"]) == {:error, :not_found}
    assert Routes.match("GET", ["channels", "1", "messages", "2", "extra"]) == {:error, :not_found}
  end

  test "the major parameter is the channel, else the guild" do
    assert Routes.major(%{"channel_id" => "1", "message_id" => "2"}) == "1"
    assert Routes.major(%{"guild_id" => "3", "user_id" => "4"}) == "3"
    assert Routes.major(%{}) == nil
  end

  test "every route is an operation of Discord's spec, public only where the spec allows no token" do
    {:ok, spec} = @spec_path |> File.read!() |> Realtime.JSON.decode()

    for r <- Routes.all(), r.spec do
      op = get_in(spec, ["paths", r.template, String.downcase(r.method)])
      assert op, "#{r.method} #{r.template} is not in the spec"
      assert (r.auth == :public) == (%{} in op["security"]), "#{r.method} #{r.template}: auth #{r.auth}"
    end
  end

  test "query parameters are checked as Discord checks them" do
    q = [{"limit", "50"}, {"before", "123"}, {"flag", true}, {"bad", "x\xff"}]
    assert Params.integer(q, "limit", 1, 1, 100) == {:ok, 50}
    assert Params.integer(q, "absent", 7, 1, 100) == {:ok, 7}
    assert {:error, {:invalid_form, "limit", "int value should be less than or equal to 10."}} = Params.integer(q, "limit", 1, 1, 10)
    assert {:error, {:invalid_form, "limit", "int value should be greater than or equal to 100."}} = Params.integer(q, "limit", 1, 100, 1000)
    assert {:error, {:invalid_form, "bad", message}} = Params.integer(q, "bad", 1, 1, 10)
    assert String.valid?(message)
    assert Params.snowflake([{"after", "0"}], "after") == {:ok, 0}
    assert {:error, {:invalid_form, "after", _}} = Params.snowflake([{"after", "-1"}], "after")
    assert {:error, {:invalid_form, "after", _}} = Params.snowflake([{"after", "18446744073709551616"}], "after")
    assert Params.boolean(q, "flag", false) == {:ok, true}
    assert Params.boolean([{"b", "False"}], "b", true) == {:ok, false}
    assert {:error, {:invalid_form, "b", _}} = Params.boolean([{"b", "yes"}], "b", true)
  end

  test "history pages: around, else before, else after, else the latest" do
    assert Params.history_page([]) == {:ok, :latest}
    assert Params.history_page([{"after", "5"}]) == {:ok, {:after, 5}}
    assert Params.history_page([{"after", "5"}, {"before", "9"}]) == {:ok, {:before, 9}}
    assert Params.history_page([{"after", "5"}, {"around", "7"}]) == {:ok, {:around, 7}}
    assert {:error, {:invalid_form, "before", _}} = Params.history_page([{"before", "x"}])
  end
end
