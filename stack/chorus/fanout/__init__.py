"""The fan-out service: the media path over WebSocket.

Speakers publish 20 ms audio frames to a node; the node relays them to every
listener of the space, several frames per message, dropping listeners that fall
behind. Nodes verify join tokens on their own, register with the gateway and
report their load; the gateway's answer tells them to drain.

Run one node with `python -m chorus.fanout --node-id fanout-1`, or the whole
stack with `chorusctl up`.
"""
