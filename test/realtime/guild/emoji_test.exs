defmodule Realtime.Guild.EmojiTest do
  use ExUnit.Case, async: true

  alias Realtime.Guild.Emoji

  test "Unicode emoji are accepted: plain, with skin tone, ZWJ sequences, flags, keycaps, with VS16" do
    for e <- ["👍", "👍🏽", "👩‍💻", "🇫🇷", "1️⃣", "#⃣", "❤️", "✅", "🏳️‍🌈", "©️"] do
      assert Emoji.parse(e) == {:ok, %{"id" => nil, "name" => e}}, e
    end
  end

  test "anything else is an unknown emoji" do
    for e <- ["", "a", "1", "👍👍", "👍a", "\u200D", "\uFE0F", "name:123", "<:name:123>", "\xff\xfe", String.duplicate("👍", 40)] do
      assert Emoji.parse(e) == {:error, :unknown_emoji}, inspect(e)
    end
  end
end
