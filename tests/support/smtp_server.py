"""A real SMTP server for the export tests (aiosmtpd).

Usage: smtp_server.py PORT OUTDIR [REFUSE_FIRST]

Saves every accepted message as OUTDIR/<n>.eml. The first REFUSE_FIRST
messages get a transient "451" so the client's retry is exercised.
"""
import asyncio
import os
import sys

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, outdir, refuse_first):
        self.outdir = outdir
        self.refuse_left = refuse_first
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_left > 0:
            self.refuse_left -= 1
            return "451 4.3.0 try again later"
        self.count += 1
        path = os.path.join(self.outdir, f"{self.count}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        with open(os.path.join(self.outdir, f"{self.count}.rcpt"), "w") as f:
            f.write("\n".join(envelope.rcpt_tos))
        return "250 OK"


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    refuse = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    os.makedirs(outdir, exist_ok=True)
    controller = Controller(Handler(outdir, refuse), hostname="127.0.0.1", port=port,
                            data_size_limit=40 * 1024 * 1024)
    controller.start()
    open(os.path.join(outdir, "ready"), "w").close()
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
