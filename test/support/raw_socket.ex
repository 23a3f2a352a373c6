defmodule Realtime.Test.RawSocket do
  @moduledoc """
  A WebSocket client on a bare `:gen_tcp` socket in passive mode, for tests
  that need a client which stops reading: nothing is read unless the test
  asks, so the server's writes back up into the kernel buffers. JSON
  encoding, no compression. The receive buffer is small, so that a client
  that stops reading is noticed soon.
  """

  alias Realtime.JSON

  @doc "Connects, upgrades, and returns the socket (HELLO not yet read)."
  def connect(port) do
    {:ok, s} = :gen_tcp.connect(~c"127.0.0.1", port, [:binary, active: false, recbuf: 4_096, packet: :raw], 5_000)
    key = Base.encode64(:crypto.strong_rand_bytes(16))

    :ok =
      :gen_tcp.send(
        s,
        "GET /?v=10&encoding=json HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" <>
          "Sec-WebSocket-Key: #{key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
      )

    {:ok, "HTTP/1.1 101" <> _ = head} = read_head(s, "")
    {s, rest_after_head(head)}
  end

  defp read_head(s, acc) do
    if String.contains?(acc, "\r\n\r\n") do
      {:ok, acc}
    else
      {:ok, data} = :gen_tcp.recv(s, 0, 5_000)
      read_head(s, acc <> data)
    end
  end

  defp rest_after_head(head), do: head |> String.split("\r\n\r\n", parts: 2) |> List.last()

  @doc "Sends a JSON frame `%{op, d}` (masked, as a client must)."
  def send_frame({s, _}, op, d) do
    payload = JSON.encode(%{"op" => op, "d" => d})
    mask = :crypto.strong_rand_bytes(4)
    len = byte_size(payload)

    header =
      cond do
        len < 126 -> <<1::1, 0::3, 1::4, 1::1, len::7>>
        len < 65_536 -> <<1::1, 0::3, 1::4, 1::1, 126::7, len::16>>
      end

    :gen_tcp.send(s, [header, mask, mask(payload, mask)])
  end

  defp mask(payload, mask) do
    stream = :binary.copy(mask, div(byte_size(payload), 4) + 1) |> binary_part(0, byte_size(payload))
    :crypto.exor(payload, stream)
  end

  @doc """
  Reads the next frame: `{{:frame, map}, client}`, `{{:close, code}, client}`
  or `{:closed, client}` when the connection is gone.
  """
  def recv({s, buffer}, timeout \\ 5_000) do
    case parse(buffer) do
      {:text, payload, rest} -> {{:frame, elem(JSON.decode(payload), 1)}, {s, rest}}
      {:close, <<code::16, _::binary>>, rest} -> {{:close, code}, {s, rest}}
      {:close, _, rest} -> {{:close, nil}, {s, rest}}
      :more ->
        case :gen_tcp.recv(s, 0, timeout) do
          {:ok, data} -> recv({s, buffer <> data}, timeout)
          {:error, _} -> {:closed, {s, buffer}}
        end
    end
  end

  defp parse(<<_fin::1, _::3, opcode::4, 0::1, 127::7, len::64, payload::binary-size(len), rest::binary>>), do: frame(opcode, payload, rest)
  defp parse(<<_fin::1, _::3, opcode::4, 0::1, 126::7, len::16, payload::binary-size(len), rest::binary>>), do: frame(opcode, payload, rest)
  defp parse(<<_fin::1, _::3, opcode::4, 0::1, len::7, payload::binary-size(len), rest::binary>>) when len < 126, do: frame(opcode, payload, rest)
  defp parse(_), do: :more

  defp frame(1, payload, rest), do: {:text, payload, rest}
  defp frame(8, payload, rest), do: {:close, payload, rest}
  defp frame(_other, _payload, rest), do: parse(rest)

  @doc "Reads frames until a dispatch of type `t`; returns it, every frame read on the way, and the client."
  def await_dispatch(client, t, seen \\ []) do
    case recv(client) do
      {{:frame, %{"op" => 0, "t" => ^t} = f}, client} -> {f, Enum.reverse([f | seen]), client}
      {{:frame, f}, client} -> await_dispatch(client, t, [f | seen])
      {other, _} -> raise "waiting for #{t}, got #{inspect(other)}"
    end
  end

  @doc "Closes the socket."
  def close({s, _}), do: :gen_tcp.close(s)
end
